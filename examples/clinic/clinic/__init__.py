"""A small clinical analytics app: the kind of code whose test suite optikit speeds up."""
