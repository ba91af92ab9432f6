"""The public import path of the regression gate's pytest checks (``optikit.gate.checks``).

Users put ``from optikit.performance_checks import *`` in a test file; the checks themselves
live with the rest of the gate.
"""

from optikit.gate.checks import *  # noqa: F403
from optikit.gate.checks import __all__ as __all__
