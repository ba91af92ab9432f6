"""``optikit audit-parallel``: runs under xdist in shuffled orders, the recorder plugin,
classification of every failure, its statistics, and the lock that keeps serial tests apart.
"""
