"""The primer: what a convolution and a pooling layer compute, in NumPy (stands alone)."""
