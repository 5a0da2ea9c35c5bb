"""Make the shared ``strategies`` module importable from every property test.

pytest's default import mode already puts a package-less test directory on ``sys.path``,
but ``--import-mode=importlib`` does not; inserting it here works under both.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
