"""The tools ``tunebook mcp`` serves, as plain methods over a store: the playbook's
evidence for an agent to read (studies, trials, the checklist, the conclusion and the
isolation rows, importance, ``next`` as a proposal, the autopilot's timeline), approval
of an ``--approve`` autopilot, and (``allow_run`` only) runs started as detached
processes the server never waits on.

Independent of MCP: each method returns a typed model (:mod:`tunebook.agent.models`)
or raises :class:`~tunebook.errors.TunebookError` with the fix, which the server turns
into a tool error.
"""

from __future__ import annotations

import functools
import math
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebook.agent import models as m
from tunebook.analysis import find_trial, study_overview
from tunebook.analysis.nextstudy import next_name, plan_next
from tunebook.analysis.report import StudyReport, study_report
from tunebook.errors import StudyNotFound, TunebookError
from tunebook.records import DecisionRecord, DecisionState, TrialStatus
from tunebook.spec import study_spec
from tunebook.store import Store, open_store
from tunebook.workflows import timeline_of

#: Trials one call returns at most (an agent pages with ``top_k`` and ``status``).
MAX_TRIALS = 500


class NotAllowed(TunebookError):
    """A tool that starts training (or steers it) on a server started without
    ``--allow-run``."""


@dataclass
class _Job:
    command: list[str]
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Tools:
    """The tools over the store at ``db`` (see the module docstring)."""

    db: str
    allow_run: bool = False
    reports: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tunebook-mcp-")))
    _jobs: dict[int, _Job] = field(default_factory=dict)

    @functools.cached_property
    def store(self) -> Store:
        """The store, opened once, read-only. Another process (a worker, a run this server
        started) writes it; every query reads what is there now, so one engine serves
        every call (one per call left its connections open)."""
        return open_store(self.db, create=False, read_only=True)

    # -- reading --------------------------------------------------------------------------

    def studies(self) -> m.Studies:
        store = self.store
        pilots = {d.pilot for d in store.decisions()}
        rows = [m.StudyRow(name=o.tree.root.name, description=study_spec(o.tree.root).model
                           .description, experiment=study_spec(o.tree.root).model.experiment,
                           metric=o.objective.metric, goal=o.objective.goal,
                           counts={s.value: n for s, n in o.counts.items() if n},
                           to_run=o.to_run, best=_num(o.best),
                           autopilot=o.tree.root.name in pilots)
                for o in study_overview(store)]
        return m.Studies(database=str(store.url), studies=rows)

    def trials(self, study: str, status: str | None = None, top_k: int | None = None,
               columns: list[str] | None = None) -> m.Trials:
        store = self.store
        tree = store.tree(study)
        spec = study_spec(tree.root)
        wanted = _status(status)
        rows = [t for t in store.trials(tree.ids) if wanted is None or t.status is wanted]
        total = len(rows)
        if top_k is not None:
            if top_k < 1:
                raise TunebookError("top_k must be 1 or more (the best k trials by the "
                                    "objective); leave it out for every trial")
            sign = spec.objective.sign()
            rows = sorted((t for t in rows if t.value is not None),
                          key=lambda t: sign * float(t.value or 0.0))[:top_k]
        keys = _columns(columns, [d.key for d in (*spec.space.scientific,
                                                  *spec.space.nuisance)], study)
        names = tree.names
        return m.Trials(study=tree.root.name, metric=spec.objective.metric,
                        goal=spec.objective.goal, total=total, trials=[
                            m.TrialRow(study=names.get(t.study_id, tree.root.name),
                                       index=t.index, status=t.status.value,
                                       value=_num(t.value), seed=t.seed, reason=t.reason,
                                       params={k: t.params[k] for k in keys if k in t.params})
                            for t in rows[:MAX_TRIALS]])

    def trial(self, study: str, index: int) -> m.TrialDetail:
        store = self.store
        record, t = find_trial(store, f"{study}/{index}")
        spec = study_spec(record)
        points = store.metric_points([t.id])
        metrics = [_summary(name, series, spec.objective.metric, spec.objective.goal)
                   for (_, name), series in sorted(points.items())]
        return m.TrialDetail(study=record.name, index=t.index, status=t.status.value,
                             value=_num(t.value), params=dict(t.params), seed=t.seed,
                             reason=t.reason, attempts=t.attempts, worker=t.worker,
                             started=t.started_at, finished=t.finished_at, code=t.code,
                             warnings=list(t.warnings), metrics=metrics)

    def checklist(self, study: str) -> m.Checklist:
        report = self._report(study)
        return m.Checklist(study=report.data.study.name, findings=[
            m.FindingOut(check=f.check.value, question=f.question, verdict=f.verdict.value,
                         summary=f.summary, next_step=f.next_step,
                         numbers={k: float(v) for k, v in f.numbers.items()
                                  if _num(float(v)) is not None})
            for f in report.findings])

    def conclusion(self, study: str) -> m.ConclusionOut:
        report = self._report(study)
        return m.ConclusionOut(
            study=report.data.study.name, supported=report.conclusion.supported,
            conclusion=report.conclusion.text, isolation=[
                m.IsolationRow(value=r.label, trials=r.trials, completed=r.completed,
                               best=_num(r.best.value) if r.best else None,
                               best_trial=r.best.index if r.best else None,
                               center=_num(r.center), spread=_num(r.spread),
                               spread_over=r.spread_source, seeds=len(r.seed_values))
                for r in report.isolation])

    def importance(self, study: str) -> m.ImportanceOut:
        report = self._report(study)
        return m.ImportanceOut(study=report.data.study.name, note=report.importance.note,
                               rows=[m.ImportanceRow(parameter=r.key, median=r.median,
                                                     low=r.low, high=r.high)
                                     for r in report.importance.rows])

    def propose_next(self, study: str, write: bool = False, output: str | None = None,
                     force: bool = False) -> m.Proposal:
        """``tunebook next`` as a proposal: the typed changes, and the file only when
        ``write`` is given."""
        report = self._report(study)
        if not report.data.completed() and not report.data.trials:
            raise TunebookError(f"study {study!r} has no trials yet: run it first")
        plan = plan_next(report.data, report.findings, report.noise)
        name = next_name(report.data.study.name)
        path = Path(output) if output else report.data.spec.source_dir / f"{name}.yaml"
        if write:
            from tunebook.workflows import next_study

            path = next_study(self.store, study, output=path, force=force).path
        return m.Proposal(
            study=report.data.study.name, next_name=name, path=str(path), written=write,
            changes=[m.ChangeOut(kind=c.kind.value, field=c.where, value=_plain(c.value),
                                 reason=c.reason,
                                 statistic={k: float(v) for k, v in c.statistic.items()})
                     for c in plan.changes],
            held=[m.HeldOut(kind=h.kind.value, target=h.target, reason=h.reason)
                  for h in plan.held],
            run_with=f"tunebook run {shlex.quote(str(path))}")

    def timeline(self, autopilot: str) -> m.Timeline:
        decisions = timeline_of(self.store, autopilot)
        shown = [_decision(d) for d in decisions]
        last = decisions[-1]
        return m.Timeline(autopilot=autopilot, decisions=shown,
                          waiting=shown[-1] if last.state is DecisionState.PROPOSED else None,
                          finished=last.action.value == "done")

    def report(self, studies: list[str]) -> m.ReportOut:
        from tunebook.report import write_report

        if not studies:
            raise TunebookError("name at least one study (list them with the studies tool)")
        store = self.store
        for name in studies:
            store.tree(name)  # an unknown name is an error with the names there are
        target = self.reports / f"{'+'.join(studies)[:80]}.html"
        return m.ReportOut(studies=studies, path=str(write_report(store, studies, target)))

    # -- steering (allow_run) ----------------------------------------------------------------

    def approve(self, autopilot: str, why: str = "") -> m.Job:
        """Approve the proposed decision; the autopilot goes on in a detached process
        (``tunebook autopilot approve``), which records the approval first."""
        self._allowed("approve")
        self._waiting(autopilot)
        return self._start(["autopilot", "approve", autopilot, "--why", why])

    def reject(self, autopilot: str, why: str) -> m.Job:
        """Reject the proposed decision; the autopilot takes the next best action in a
        detached process (``tunebook autopilot reject``)."""
        self._allowed("reject")
        if not why.strip():
            raise TunebookError("say why you reject it (why=...): the reason is kept with "
                                "the decision")
        self._waiting(autopilot)
        return self._start(["autopilot", "reject", autopilot, "--why", why])

    def _waiting(self, autopilot: str) -> None:
        last = timeline_of(self.store, autopilot)[-1]
        if last.state is not DecisionState.PROPOSED:
            raise TunebookError(f"nothing of autopilot {autopilot!r} waits for approval: its "
                                f"last decision (#{last.seq}, {last.summary}) is "
                                f"{last.state.value}; only an autopilot started with "
                                "approve_each proposes decisions")

    def start_run(self, study_file: str, workers: int = 1) -> m.Job:
        self._allowed("start_run")
        return self._start(["run", _file(study_file), "-w", str(_workers(workers))])

    def start_rerun(self, study: str, seeds: int = 3, top: int | None = None,
                    workers: int = 1) -> m.Job:
        self._allowed("start_rerun")
        self.store.tree(study)
        return self._start(["rerun", study, "--seeds", str(seeds), "-w", str(_workers(workers)),
                            *(["--top", str(top)] if top is not None else [])])

    def start_autopilot(self, study_file: str, budget: str, approve_each: bool = False,
                        workers: int = 1) -> m.Job:
        self._allowed("start_autopilot")
        return self._start(["autopilot", "run", _file(study_file), "--budget", str(budget),
                            "-w", str(_workers(workers)),
                            *(["--approve"] if approve_each else [])])

    def jobs(self) -> m.Jobs:
        return m.Jobs(jobs=[self._job(i) for i in self._jobs])

    def stop(self, job: int) -> m.Job:
        """SIGTERM the job's process group: its trials are re-queued, as on Ctrl-C."""
        self._allowed("stop")
        if job not in self._jobs:
            raise TunebookError(f"no job {job} started by this server; the jobs are "
                                f"{sorted(self._jobs) or 'none'}")
        process = self._jobs[job].process
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return self._job(job)

    # -- helpers ----------------------------------------------------------------------------

    def _report(self, study: str) -> StudyReport:
        return study_report(self.store, study)

    def _allowed(self, tool: str) -> None:
        if not self.allow_run:
            raise NotAllowed(f"{tool} starts or steers training, and this server is "
                             "read-only: start it as `tunebook mcp --allow-run` to allow it")

    def _start(self, args: list[str]) -> m.Job:
        """``tunebook ARGS --db DB --no-progress`` in its own session, output to a log: the
        server returns at once and never waits on it."""
        number = len(self._jobs) + 1
        log = self.reports / f"job-{number}.log"
        command = [sys.executable, "-m", "tunebook.cli", *args, "--db", self.db,
                   "--no-progress"]
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self._jobs[number] = _Job(command, process, log)
        return self._job(number)

    def _job(self, number: int) -> m.Job:
        job = self._jobs[number]
        code = job.process.poll()
        text = job.log.read_text(errors="replace") if job.log.exists() else ""
        return m.Job(id=number, command=job.command, pid=job.process.pid, running=code is None,
                     exit_code=code, log=str(job.log), log_tail=text[-2000:])


def _num(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _plain(value: Any) -> Any:
    return value.model_dump() if hasattr(value, "model_dump") else value


def _status(text: str | None) -> TrialStatus | None:
    if not text:
        return None
    try:
        return TrialStatus(text)
    except ValueError:
        raise TunebookError(f"unknown status {text!r}: use one of "
                            f"{', '.join(s.value for s in TrialStatus)}") from None


def _columns(asked: list[str] | None, known: list[str], study: str) -> list[str]:
    if not asked:
        return known
    unknown = [c for c in asked if c not in known]
    if unknown:
        raise TunebookError(f"study {study!r} has no parameter {', '.join(unknown)}; its "
                            f"parameters are {', '.join(known)}")
    return asked


def _summary(name: str, series: list[tuple[int, float]], objective: str,
             goal: str) -> m.MetricSummary:
    values = [v for _, v in series if math.isfinite(v)] or [math.nan]
    best = max(values) if name == objective and goal == "maximize" else min(values)
    return m.MetricSummary(name=name, points=len(series), first=series[0][1],
                           last=series[-1][1], best=best, last_step=series[-1][0])


def _decision(d: DecisionRecord) -> m.DecisionOut:
    return m.DecisionOut(seq=d.seq, phase=d.phase.value, action=d.action.value,
                         state=d.state.value, summary=d.summary, why=d.why, study=d.study,
                         spent=d.spent, budget=d.budget, evidence=d.evidence)


def _file(path: str) -> str:
    if not Path(path).is_file():
        raise TunebookError(f"no study file at {path}: pass the path of a study YAML file "
                            "(absolute, or relative to where the server runs)")
    return str(Path(path).resolve())


def _workers(n: int) -> int:
    if n < 1:
        raise TunebookError("workers must be 1 or more")
    return n


__all__ = ["MAX_TRIALS", "NotAllowed", "StudyNotFound", "Tools"]
