"""The regression gate: the committed baseline, the verdict rules, confirm re-runs,
the pytest checks.
"""
