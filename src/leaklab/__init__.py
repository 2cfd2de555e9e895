"""leaklab: what a model learns from wrong labels, as an executable book."""

__version__ = "0.1.0"
