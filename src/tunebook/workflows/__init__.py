"""The playbook's procedures as a library: each takes a typed spec (or a stored study's
name) and a store, runs the studies it derives, and returns a typed result. The CLI only
parses arguments, calls one of these and renders what it returns.

    >>> from tunebook import load_spec, open_store
    >>> from tunebook.workflows import lr_sweep
    >>> found = lr_sweep(load_spec("study.yaml"), open_store("tunebook.db"))
    >>> found.sweep.best.x, found.sweep.capped

Each workflow makes its studies through the one derivation
(:meth:`tunebook.spec.StudySpec.derive`), never by editing the study file's text.
"""

from tunebook._spec_derive import Change, ChangeKind, Derivation
from tunebook.workflows._autopilot import (
    Pilot,
    approve,
    autopilot,
    reject,
    resume,
    settings_of,
    timeline_of,
)
from tunebook.workflows._launch import (
    DEFAULT_BASELINE,
    Blocker,
    BlockerKind,
    Evidence,
    baseline_changes,
    gather,
    launch,
    read_config,
    set_baseline,
)
from tunebook.workflows._pilot_machine import TRANSITIONS, Outcome
from tunebook.workflows._pilot_payload import Settings
from tunebook.workflows._rerun import RerunResult, rerun, rerun_study
from tunebook.workflows._round2 import Round2Result, round2, round2_study, transfer
from tunebook.workflows._run import RunOptions
from tunebook.workflows.batchsize import BatchSizeProbe, batch_size_probe
from tunebook.workflows.lrsweep import LrSweep, lr_sweep
from tunebook.workflows.nextstudy import NextStudy, next_study
from tunebook.workflows.warmup import WarmupSweep, warmup_sweep

__all__ = [
    "DEFAULT_BASELINE",
    "TRANSITIONS",
    "BatchSizeProbe",
    "Blocker",
    "BlockerKind",
    "Change",
    "ChangeKind",
    "Derivation",
    "Evidence",
    "LrSweep",
    "NextStudy",
    "Outcome",
    "Pilot",
    "RerunResult",
    "Round2Result",
    "RunOptions",
    "Settings",
    "WarmupSweep",
    "approve",
    "autopilot",
    "baseline_changes",
    "batch_size_probe",
    "gather",
    "launch",
    "lr_sweep",
    "next_study",
    "read_config",
    "reject",
    "rerun",
    "rerun_study",
    "resume",
    "round2",
    "round2_study",
    "set_baseline",
    "settings_of",
    "timeline_of",
    "transfer",
    "warmup_sweep",
]
