"""psinet: gradient descent for neural networks in pure NumPy."""

__version__ = "0.1.0"
