"""ffpipe: declarative, cached pipelines for face processing."""

__version__ = "0.1.0"
