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

from tunebook.workflows._run import RunOptions
from tunebook.workflows.autopilot import (
    Pilot,
    approve,
    autopilot,
    reject,
    resume,
    settings_of,
    timeline_of,
)
from tunebook.workflows.batchsize import BatchSizeProbe, batch_size_probe
from tunebook.workflows.launch import Evidence, gather, launch
from tunebook.workflows.lrsweep import LrSweep, lr_sweep
from tunebook.workflows.nextstudy import NextStudy, next_study
from tunebook.workflows.rerun import RerunResult, rerun
from tunebook.workflows.round2 import Round2Result, round2
from tunebook.workflows.warmup import WarmupSweep, warmup_sweep

__all__ = [
    "BatchSizeProbe",
    "Evidence",
    "LrSweep",
    "NextStudy",
    "Pilot",
    "RerunResult",
    "Round2Result",
    "RunOptions",
    "WarmupSweep",
    "approve",
    "autopilot",
    "batch_size_probe",
    "gather",
    "launch",
    "lr_sweep",
    "next_study",
    "reject",
    "rerun",
    "resume",
    "round2",
    "settings_of",
    "timeline_of",
    "warmup_sweep",
]
