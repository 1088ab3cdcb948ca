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
    TrialStopped,
    TunebookError,
)

if TYPE_CHECKING:
    from tunebook.analysis.exports import load
    from tunebook.records import Objective, StudyRecord, StudyTree, TrialRecord, TrialStatus
    from tunebook.runner.local import RunResult, run_study
    from tunebook.spec import StudySpec, load_spec
    from tunebook.store import MemoryStore, SQLStore, Store, open_store

__version__ = "0.1.0"

_LAZY = {
    "load_spec": "tunebook.spec",
    "StudySpec": "tunebook.spec",
    "Store": "tunebook.store",
    "SQLStore": "tunebook.store",
    "MemoryStore": "tunebook.store",
    "open_store": "tunebook.store",
    "Objective": "tunebook.records",
    "StudyRecord": "tunebook.records",
    "StudyTree": "tunebook.records",
    "TrialRecord": "tunebook.records",
    "TrialStatus": "tunebook.records",
    "run_study": "tunebook.runner.local",
    "load": "tunebook.analysis.exports",
    "RunResult": "tunebook.runner.local",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tunebook' has no attribute {name!r}")


__all__ = [
    "Infeasible",
    "MemoryStore",
    "Objective",
    "RunResult",
    "SQLStore",
    "SpecError",
    "StaleClaim",
    "Store",
    "StoreError",
    "StudyNotFound",
    "StudyRecord",
    "StudySpec",
    "StudyTree",
    "TrialContext",
    "TrialFailed",
    "TrialRecord",
    "TrialStatus",
    "TrialStopped",
    "TunebookError",
    "__version__",
    "load",
    "load_spec",
    "open_store",
    "run_study",
    "trial",
]
