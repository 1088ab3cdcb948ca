"""What each tool of ``tunebook mcp`` answers: typed, so an agent gets a JSON schema for
every answer and reads fields, not prose. Plain data, no behaviour."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class StudyRow(BaseModel):
    """One top-level study: its trial counts by status and its best objective value."""

    name: str
    description: str
    experiment: str | None
    metric: str
    goal: str
    counts: dict[str, int] = Field(description="trials by status")
    to_run: int = Field(description="trials queued or not yet created under the budget")
    best: float | None
    autopilot: bool = Field(description="an autopilot of this name has a timeline")


class Studies(BaseModel):
    database: str
    studies: list[StudyRow]


class TrialRow(BaseModel):
    study: str
    index: int
    status: str
    value: float | None
    params: dict[str, Any]
    seed: int
    reason: str | None = None


class Trials(BaseModel):
    study: str
    metric: str
    goal: str
    total: int = Field(description="trials matching the filter, before top_k")
    trials: list[TrialRow]


class MetricSummary(BaseModel):
    name: str
    points: int
    first: float
    last: float
    best: float = Field(description="the minimum (the maximum for the objective of a "
                                    "maximize study)")
    last_step: int


class TrialDetail(TrialRow):
    attempts: int
    worker: str | None
    started: float | None
    finished: float | None
    code: str | None = Field(description="digest of the trainer code the trial ran")
    warnings: list[str]
    metrics: list[MetricSummary]


class FindingOut(BaseModel):
    check: str
    question: str
    verdict: str = Field(description="ok, warn, fail or unknown")
    summary: str
    next_step: str
    numbers: dict[str, float] = Field(description="the statistics behind the verdict")


class Checklist(BaseModel):
    study: str
    findings: list[FindingOut]


class IsolationRow(BaseModel):
    value: str = Field(description="the scientific value (combination)")
    trials: int
    completed: int
    best: float | None
    best_trial: int | None
    center: float | None = Field(description="the mean over seeds where the best "
                                             "configuration was re-run, else the best value")
    spread: float | None
    spread_over: str = Field(description="seeds, or top-k trials")
    seeds: int


class ConclusionOut(BaseModel):
    study: str
    supported: bool = Field(description="the evidence supports a decision")
    conclusion: str
    isolation: list[IsolationRow]


class ImportanceRow(BaseModel):
    parameter: str
    median: float = Field(description="median drop in held-out R² when shuffled")
    low: float = Field(description="10th percentile over bootstrap refits")
    high: float = Field(description="90th percentile")


class ImportanceOut(BaseModel):
    study: str
    rows: list[ImportanceRow]
    note: str


class ChangeOut(BaseModel):
    kind: str = Field(description="widen, cut, fix, budget, steps or sampler")
    field: str = Field(description="the study-file field it edits")
    value: Any
    reason: str
    statistic: dict[str, float]


class HeldOut(BaseModel):
    kind: str
    target: str
    reason: str


class Proposal(BaseModel):
    study: str
    next_name: str
    path: str = Field(description="where the study file is (or would be) written")
    written: bool
    changes: list[ChangeOut]
    held: list[HeldOut] = Field(description="changes the evidence does not yet support")
    run_with: str


class DecisionOut(BaseModel):
    seq: int
    phase: str
    action: str
    state: str = Field(description="made, proposed (waits for approval), approved or "
                                   "rejected")
    summary: str
    why: str
    study: str | None
    spent: float
    budget: float
    evidence: dict[str, Any]


class Timeline(BaseModel):
    autopilot: str
    decisions: list[DecisionOut]
    waiting: DecisionOut | None = Field(description="the decision that waits for approval")
    finished: bool


class ReportOut(BaseModel):
    studies: list[str]
    path: str


class Job(BaseModel):
    id: int
    command: list[str]
    pid: int
    running: bool
    exit_code: int | None
    log: str
    log_tail: str


class Jobs(BaseModel):
    jobs: list[Job]
