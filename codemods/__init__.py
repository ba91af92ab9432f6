"""libcst transforms that rewrite test source, one module per codemod (DESIGN.md).
Never imports ``optikit``; the CLI hands them plain values."""
