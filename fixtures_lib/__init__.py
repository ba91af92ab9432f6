"""What a test suite uses at run time: LLM cassettes, the disk-backed fixture cache and the
lazy dataset registry (DESIGN.md). Never imports ``optikit``."""
