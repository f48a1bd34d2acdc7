"""ferbench: honest, reproducible facial expression recognition benchmarks."""

__version__ = "0.1.0"
