"""tunebook: the Deep Learning Tuning Playbook as software.

``import tunebook`` is light (no torch, no database driver): the heavier parts are
imported on first use, so training code that only calls :func:`trial` starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tunebook.context import TrialContext, trial
from tunebook.errors import (
    Infeasible,
    SpecError,
    StaleClaim,
    StoreError,
    StudyNotFound,
    TrialFailed,
    TunebookError,
)

if TYPE_CHECKING:
    from tunebook.runner.local import RunResult, run_study
    from tunebook.spec import StudySpec, load_spec
    from tunebook.store import Store, TrialRecord, TrialStatus

__version__ = "0.1.0"

_LAZY = {
    "load_spec": "tunebook.spec",
    "StudySpec": "tunebook.spec",
    "Store": "tunebook.store",
    "TrialRecord": "tunebook.store",
    "TrialStatus": "tunebook.store",
    "run_study": "tunebook.runner.local",
    "RunResult": "tunebook.runner.local",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tunebook' has no attribute {name!r}")


__all__ = [
    "Infeasible",
    "RunResult",
    "SpecError",
    "StaleClaim",
    "Store",
    "StoreError",
    "StudyNotFound",
    "StudySpec",
    "TrialContext",
    "TrialFailed",
    "TrialRecord",
    "TrialStatus",
    "TunebookError",
    "__version__",
    "load_spec",
    "run_study",
    "trial",
]
