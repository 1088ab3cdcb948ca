"""Persistent state: studies, trials, metric points, checkpoints (see :class:`Store`)."""

from tunebook.store.records import (
    CheckpointRecord,
    MetricPoint,
    StudyRecord,
    TrialRecord,
    TrialStatus,
)
from tunebook.store.sql import Store

__all__ = ["CheckpointRecord", "MetricPoint", "Store", "StudyRecord", "TrialRecord",
           "TrialStatus"]
