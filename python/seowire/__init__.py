"""seowire: one fast client for the SEMrush, Ahrefs and Moz APIs.

Sync and async calls that return dicts, retries done right, and one shared model of API units:
estimate before calling, reserve, reconcile, and refuse before a budget is crossed.
"""

from __future__ import annotations

import atexit
import warnings

from . import _seowire

# At exit, before the interpreter finalizes: seowire's threads stop calling into Python.
atexit.register(_seowire._close_gate)
from ._common import Batches, Budget, BudgetAlert, Rows
from ._progress import Progress
from ._seowire import Ledger, RetryPolicy
from .exceptions import (
    AuthenticationError,
    BudgetExceeded,
    ConflictError,
    InvalidRequest,
    LedgerError,
    LedgerUnavailable,
    MissingExtra,
    NotSupported,
    InternalError,
    BulkError,
    ProviderError,
    RateLimited,
    PartialResult,
    ResponseFormatError,
    SeowireError,
    TransportError,
    UnitsExhausted,
)
from .ahrefs import Ahrefs, AhrefsConnect
from .lifecycle import capabilities
from .moz import Moz
from .scim import AhrefsScim
from . import seats
from .semrush import Semrush

__version__: str = _seowire.__version__
build_profile: str = _seowire.build_profile

__all__ = [
    "Semrush",
    "Moz",
    "Ahrefs",
    "AhrefsConnect",
    "AhrefsScim",
    "capabilities",
    "seats",
    "Ledger",
    "Budget",
    "BudgetAlert",
    "RetryPolicy",
    "Rows",
    "Batches",
    "Progress",
    "SeowireError",
    "AuthenticationError",
    "InvalidRequest",
    "BudgetExceeded",
    "UnitsExhausted",
    "RateLimited",
    "PartialResult",
    "ProviderError",
    "ConflictError",
    "MissingExtra",
    "TransportError",
    "ResponseFormatError",
    "LedgerError",
    "LedgerUnavailable",
    "NotSupported",
    "InternalError",
    "BulkError",
    "__version__",
]

if build_profile == "debug":
    warnings.warn(
        "seowire was built in debug mode and is much slower; reinstall with `pip install .` "
        "or `maturin develop --release`",
        RuntimeWarning,
        stacklevel=2,
    )
