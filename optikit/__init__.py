"""optikit: make slow pytest suites fast and keep them fast."""

__version__ = "0.1.0"
