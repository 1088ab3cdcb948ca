"""The storage contract every backend keeps (SQL on SQLite or PostgreSQL, in memory)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from tunebook.errors import StudyNotFound
from tunebook.records import (
    BaselineRecord,
    CheckpointRecord,
    DecisionRecord,
    DecisionState,
    MetricPoint,
    StudyRecord,
    StudyTree,
    TrialRecord,
    TrialStatus,
)
from tunebook.space import Params

#: ``(step, name, value, time)``: one metric point as trials report it.
Point = tuple[int, str, float, float]


class Store(Protocol):
    """Where studies, trials and metrics live.

    Promises, for every backend (checked by ``tests/test_store.py`` on each of them):
      * ``claim()`` hands a queued trial to exactly one caller, atomically; the claim is
        the pair (trial id, attempt) and every later update names it;
      * ``reserve()`` creates each trial index of a study exactly once across all callers
        and machines, and only while the study has fewer trials than its budget; the new
        trial comes back already claimed by the caller, in one short transaction, so no
        lock is held while a sampler chooses its params;
      * a trial's params are durable before training starts: ``enqueue()`` writes them
        with the trial, or ``set_params()`` writes them for the claim that reserved it;
        a trial whose reserver died before ``set_params()`` is re-queued without params
        (``suggested`` is False) and whoever claims it next suggests them;
      * ``report_metrics()`` is idempotent per (trial, name, step): a retried batch never
        duplicates a point, the newest value wins;
      * ``finish()`` is idempotent for its own claim; finishing, heartbeating or setting
        params of a trial that was re-queued or re-claimed since raises
        :class:`~tunebook.errors.StaleClaim` instead of overwriting it;
      * the lost-trial policy lives here and only here: ``requeue_stale()`` puts a running
        trial back in the queue when its worker is known dead or its heartbeat is older
        than the timeout (never one the sweeping worker runs itself, which it knows is
        alive), ``lose()`` when an executor saw its worker die; both record why
        in the trial's warnings, never act twice on one claim, and fail the trial with its
        history instead once it had ``max_attempts`` attempts.
    """

    url: str

    def close(self) -> None: ...

    # -- studies -------------------------------------------------------------------------

    def create_study(self, name: str, spec: dict[str, Any], identity: str, *,
                     round: int = 1, parent_id: int | None = None,
                     combo: Params | None = None, budget: int | None = None,
                     leaves: Sequence[tuple[str, Params]] = ()) -> StudyRecord:
        """Create a study, and its sub-studies ``leaves`` (name, combo), in one transaction.

        An existing name raises :class:`~tunebook.errors.StudyExists` and creates nothing,
        so two runs creating one study at once see one study, whole.
        """
        ...

    def find_study(self, name: str) -> StudyRecord | None: ...

    def study_by_id(self, study_id: int) -> StudyRecord: ...

    def list_studies(self) -> list[StudyRecord]: ...

    def children(self, study_id: int) -> list[StudyRecord]: ...

    def update_study(self, study_id: int, *, spec: dict[str, Any] | None = None,
                     budget: int | None = None) -> None:
        """Replace a study's snapshot (budget and description may change) or budget."""
        ...

    # -- trials --------------------------------------------------------------------------

    def enqueue(self, study_id: int, new: Iterable[tuple[int, Params, int]]) -> int:
        """Add queued trials ``(index, params, seed)``; indices that exist are skipped."""
        ...

    def claim(self, worker: str, study_ids: Sequence[int] | None = None) -> TrialRecord | None:
        """Atomically take the lowest-index queued trial (of these studies) for ``worker``."""
        ...

    def reserve(self, worker: str, study_ids: Sequence[int] | None = None,
                ) -> TrialRecord | None:
        """Create the next trial of a study under budget, claimed by ``worker``.

        Among the studies below their budget, the one with the fewest trials gets a new
        index (its highest plus one); the trial is running, attempt 1, with no params
        (``suggested`` False). ``None`` when every study has its budget.
        """
        ...

    def set_params(self, trial_id: int, attempt: int, params: Params, seed: int) -> TrialRecord:
        """Write the params (and seed) a sampler chose for a reserved or re-queued trial."""
        ...

    def heartbeat(self, trial_id: int, attempt: int) -> None: ...

    def finish(self, trial_id: int, attempt: int, status: TrialStatus, *,
               value: float | None = None, reason: str | None = None,
               metrics: dict[str, float] | None = None, code: str | None = None,
               devices: str | None = None) -> None: ...

    def add_warning(self, trial_id: int, text: str) -> None: ...

    def release(self, trial_id: int, attempt: int, reason: str) -> bool:
        """Put a claimed trial back in the queue (Ctrl-C); False if it was not ours."""
        ...

    def requeue_stale(self, study_ids: Sequence[int] | None, *, timeout_s: float,
                      is_dead: Callable[[str], bool] = lambda worker: False,
                      is_ours: Callable[[str], bool] = lambda worker: False,
                      max_attempts: int | None = None) -> list[int]: ...

    def lose(self, trial_id: int, attempt: int, why: str, *,
             max_attempts: int | None = None) -> bool:
        """An executor saw the claim's worker die: re-queue (or give up on) the trial."""
        ...

    def retry_trials(self, study_ids: Sequence[int], statuses: Sequence[TrialStatus],
                     indices: Sequence[int] | None = None) -> list[int]:
        """Re-queue finished trials with one of ``statuses`` (and, if given, these indices).

        Each keeps its params, seed and attempts; its outcome is cleared and the earlier
        outcome goes into its warnings, so the history survives. Running and queued trials
        are never touched. Returns the ids re-queued.
        """
        ...

    def delete_study(self, study_id: int) -> int:
        """Remove a study, its sub-studies and later-round children (any depth), their
        trials, metric points and checkpoint records; returns how many trials went."""
        ...

    def trials(self, study_ids: Sequence[int], status: TrialStatus | None = None,
               ) -> list[TrialRecord]: ...

    def get_trial(self, study_id: int, index: int) -> TrialRecord | None: ...

    def trial_by_id(self, trial_id: int) -> TrialRecord: ...

    def counts(self, study_ids: Sequence[int]) -> dict[TrialStatus, int]: ...

    def best_value(self, study_ids: Sequence[int], goal: str) -> float | None: ...

    def last_update(self, study_ids: Sequence[int]) -> float | None:
        """The latest time any trial of the studies was created, started, beat or finished
        (an aggregate: what a live view polls to know whether anything changed)."""
        ...

    # -- metrics and checkpoints ---------------------------------------------------------

    def report_metrics(self, trial_id: int, points: Sequence[Point]) -> None: ...

    def metric_history(self, trial_id: int, name: str | None = None) -> list[MetricPoint]: ...

    def metric_points(self, trial_ids: Sequence[int], names: Sequence[str] | None = None,
                      ) -> dict[tuple[int, str], list[tuple[int, float]]]: ...

    def final_metrics(self, trial_id: int) -> dict[str, float]: ...

    def add_checkpoint(self, trial_id: int, step: int, path: str,
                       value: float | None = None) -> int: ...

    def drop_checkpoint(self, checkpoint_id: int) -> None: ...

    def checkpoints(self, trial_id: int) -> list[CheckpointRecord]: ...

    # -- baselines -----------------------------------------------------------------------

    def add_baseline(self, name: str, config: dict[str, Any], *, author: str, why: str = "",
                     source: str = "", study: str | None = None,
                     evidence: dict[str, Any] | None = None,
                     forced: bool = False) -> BaselineRecord:
        """Add the next version of baseline ``name`` (1 for a new name), atomically.

        Versions are only ever added: two writers at once get two consecutive versions,
        and no version is changed or removed afterwards (deleting a study keeps the
        launches it made, which name it rather than point at it).
        """
        ...

    def baselines(self, name: str | None = None) -> list[BaselineRecord]:
        """Every version of baseline ``name`` (``None``: of every baseline), oldest first."""
        ...

    # -- autopilot decisions -------------------------------------------------------------

    def add_decision(self, pilot: str, seq: int, *, phase: str, action: str, summary: str,
                     why: str, stats: dict[str, Any], study: str | None, spent: float,
                     budget: float, state: DecisionState) -> DecisionRecord:
        """Append decision ``seq`` to ``pilot``'s timeline.

        ``seq`` must be the next one (the timeline's length): a second autopilot writing
        the same place raises :class:`~tunebook.errors.StaleClaim` and writes nothing, so
        two drivers of one study never both act.
        """
        ...

    def decisions(self, pilot: str | None = None) -> list[DecisionRecord]:
        """``pilot``'s timeline in order (``None``: every pilot's, oldest first)."""
        ...

    def resolve_decision(self, decision_id: int, state: DecisionState, note: str = "",
                         ) -> bool:
        """Approve or reject a ``proposed`` decision; False when it was not proposed (it
        was resolved already): a decision is resolved once."""
        ...

    # -- derived: the same for every backend ---------------------------------------------

    def get_study(self, name: str) -> StudyRecord:
        """The study of that name, or :class:`StudyNotFound` listing what exists."""
        study = self.find_study(name)
        if study is None:
            known = [s.name for s in self.list_studies() if s.parent_id is None][:10]
            hint = f"known studies: {', '.join(known)}" if known else "the store has no studies"
            raise StudyNotFound(f"no study named {name!r} in {self.url} ({hint})")
        return study

    def tree(self, study: StudyRecord | str) -> StudyTree:
        """The study (by record or name) and the leaf studies that hold its trials.

        Leaves are the per-value sub-studies (children with a ``combo``); a child study of
        a later round (``tunebook rerun``) has a parent too, but holds its own trials.
        """
        root = self.get_study(study) if isinstance(study, str) else study
        leaves = tuple(c for c in self.children(root.id) if c.combo is not None)
        return StudyTree(root, leaves or (root,))

    def baseline(self, name: str, version: int | None = None) -> BaselineRecord | None:
        """The latest version of baseline ``name`` (or version ``version``); None if none."""
        versions = self.baselines(name)
        if version is not None:
            versions = [b for b in versions if b.version == version]
        return versions[-1] if versions else None

    def trees(self) -> list[StudyTree]:
        """Every study that is not a per-value leaf, with its leaves, oldest first."""
        return [self.tree(s) for s in self.list_studies()
                if s.parent_id is None or s.combo is None]


def lost_because(attempts: int, worker: str | None, heartbeat_at: float | None, cutoff: float,
                 is_dead: Callable[[str], bool],
                 is_ours: Callable[[str], bool] = lambda worker: False) -> str | None:
    """Why a running trial counts as lost (None: it does not): its worker is known dead, or
    its last heartbeat is older than ``cutoff``. A known death is named as such. A trial
    the sweeping worker itself runs (``is_ours``) is never lost: it knows it is alive,
    however late its heartbeat is written."""
    if is_ours(worker or ""):
        return None
    if is_dead(worker or ""):
        return f"attempt {attempts}: worker {worker} died"
    if heartbeat_at is None or heartbeat_at < cutoff:
        return f"attempt {attempts}: worker {worker} went silent"
    return None


def lost_trial_update(attempts: int, warnings: Sequence[str], why: str,
                      max_attempts: int | None, now: float) -> dict[str, Any]:
    """The lost-trial policy as one decision: the column values for a lost claim.

    The history of reasons is appended to the trial's warnings so that it survives; a
    trial that already had ``max_attempts`` attempts is failed with that history instead
    of being run again (a trial that kills every worker it touches must not loop forever).
    """
    history = [*warnings, why]
    values: dict[str, Any] = {"worker": None, "warnings": history}
    if max_attempts is not None and attempts >= max_attempts:
        values.update(status=TrialStatus.FAILED.value, finished_at=now,
                      reason=f"gave up after {attempts} attempts: " + "; ".join(history))
    else:
        values.update(status=TrialStatus.QUEUED.value, reason=f"re-queued: {why}")
    return values


def retry_update(attempts: int, status: TrialStatus, reason: str | None,
                 warnings: Sequence[str]) -> dict[str, Any]:
    """The column values of a finished trial put back in the queue by ``retry_trials``."""
    why = f"attempt {attempts}: {status.value}" + (
        f" ({reason.strip().splitlines()[0][:200]})" if reason and reason.strip() else "")
    return {"status": TrialStatus.QUEUED.value, "worker": None, "value": None, "metrics": {},
            "finished_at": None, "reason": f"re-queued by retry after {why}", "code": None,
            "devices": None,
            "warnings": [*warnings, why]}


def pick_reservation(under_budget: Iterable[tuple[int, int, int]]) -> list[int]:
    """Studies ``(id, trials, budget)`` below budget, the emptiest first (ties: oldest).

    Per-value sub-studies fill evenly this way, whichever worker asks.
    """
    return [sid for sid, have, budget in sorted(under_budget, key=lambda r: (r[1], r[0]))
            if have < budget]
