"""The training engine: the epoch loop, its run directory and the pieces it drives."""
