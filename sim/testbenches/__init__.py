"""cocotb testbench modules of the hardware blocks (run through :func:`sim.runner.run`)."""
