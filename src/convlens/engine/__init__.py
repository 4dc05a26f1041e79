"""The engine: training loop and callbacks, runs and checkpoints, evaluation, prediction,
transfer and experiments. It computes; it never draws."""
