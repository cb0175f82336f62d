"""The render loop: options, the job grid, inputs, outputs."""
