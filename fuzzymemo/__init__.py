"""The ``fuzzymemo`` console command: one front for the golden model, the generator and the simulators."""
