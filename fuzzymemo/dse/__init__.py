"""Design-space exploration (``fuzzymemo dse``, docs/dse.md): a space file of axes over the registered
reuse schemes, predictors, thresholds and tile parameters; every point one Dask task running the golden
model, the RTL tile and synthesis stages; a results file that is its own checkpoint; the Pareto front of
the chosen objectives, with a table and a plot.

* :mod:`.space` -- the space file (TOML) parsed and checked, expanded into points;
* :mod:`.point` -- one point's stages, run in a worker process;
* :mod:`.engine` -- the points on a dask.distributed cluster, checkpoint and progress;
* :mod:`.pareto` -- the non-dominated points, Markdown table, plot.
"""
