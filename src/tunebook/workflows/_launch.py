"""``tunebook launch``: adopt a scientific value into the baseline, only with evidence.

The playbook (§2.1, §2.4) changes the baseline only when a study shows the change is
better by more than the trial-to-trial variance, after the nuisance parameters were tuned
for each value, and when nothing in the checklist says the study itself is unsound. A
launch therefore gathers that evidence first: the isolation result with the spread over
seed re-runs (``tunebook rerun``), and every checklist item of the study and of the
studies it descends from, up to the exploration that searched. Anything missing blocks
the launch unless the user forces it and says why; either way the evidence is recorded
with the new baseline version, who made it and when, so the history of the baseline
explains itself.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from tunebook.analysis.findings import Verdict
from tunebook.analysis.isolation import ValueBest, ranked
from tunebook.analysis.report import StudyReport, study_report
from tunebook.errors import LaunchRefused, SpecError
from tunebook.records import BaselineRecord, StudyRecord
from tunebook.space import Params, combo_label
from tunebook.spec import read_yaml, spec_from_dict, study_spec
from tunebook.store import Store

DEFAULT_BASELINE = "main"


class BlockerKind(str, Enum):
    """Why the evidence does not support a launch (persisted by value with it)."""

    CHECKLIST = "checklist"        # a checklist item of the study or an ancestor fails
    NO_SEEDS = "no_seeds"          # the best configurations were not re-run over seeds
    NOT_LEADER = "not_leader"      # another value leads
    WITHIN_NOISE = "within_noise"  # the gap does not beat the noise


@dataclass(frozen=True)
class Blocker:
    """One thing that keeps the evidence from supporting a launch: what, in a line."""

    kind: BlockerKind
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Evidence:
    """What a launch rests on, as plain data (stored as JSON with the new version)."""

    study: str
    value: Params
    metric: str
    goal: str
    conclusion: str
    supported: bool
    isolation: list[dict[str, Any]]
    checklist: list[dict[str, str]]
    blockers: list[Blocker]
    config: dict[str, Any]
    changes: dict[str, list[Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        """The blockers in words."""
        return [b.text for b in self.blockers]

    def blocked_by(self, kind: BlockerKind) -> bool:
        return any(b.kind is kind for b in self.blockers)

    def as_json(self) -> dict[str, Any]:
        return {"study": self.study, "value": self.value, "metric": self.metric,
                "goal": self.goal, "conclusion": self.conclusion,
                "supported": self.supported, "isolation": self.isolation,
                "checklist": self.checklist, "blockers": self.texts,
                "changes": self.changes, "notes": self.notes}


def parse_value(text: str, rows: Sequence[ValueBest]) -> ValueBest:
    """The isolation row ``text`` names: ``gelu``, ``act=gelu`` or ``act=gelu, width=64``.

    Raises:
        SpecError: the study did not test that value (the message lists what it tested).
    """
    keys = list(rows[0].combo) if rows and rows[0].combo else []
    if not keys:
        raise SpecError("the study has no scientific parameter: there is no value to launch; "
                        "give the study a scientific: section", field="--value")
    wanted: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep and len(keys) == 1:
            key, value = keys[0], part
        if key.strip() in wanted:
            raise SpecError(f"{text!r} names {key.strip()} twice; a launch adopts one value "
                            "of each scientific parameter", field="--value")
        wanted[key.strip()] = value.strip()
    for row in rows:
        if wanted and all(str(row.combo.get(k)) == v for k, v in wanted.items()) \
                and set(wanted) == set(keys):
            return row
    tested = "; ".join(r.label for r in rows)
    raise SpecError(f"{text!r} names no value the study tested (tested: {tested}); "
                    f"pass one of them, e.g. --value {rows[0].label.replace(', ', ',')!r}",
                    field="--value")


def _ancestors(store: Store, study: StudyRecord) -> list[StudyRecord]:
    """The studies a re-run or round-2 child descends from, up to the exploration that
    searched (a re-run of a round 2 of an exploration: the round 2, then the exploration)."""
    out: list[StudyRecord] = []
    while study.derived and study.parent_id is not None:
        study = store.study_by_id(study.parent_id)
        out.append(study)
    return out


def lineage(store: Store, report: StudyReport) -> list[StudyReport]:
    """``report`` and the reports of the studies it descends from (see
    :func:`_ancestors`): a launch weighs every checklist among them."""
    return [report] + [study_report(store, a.name)
                       for a in _ancestors(store, report.data.study)]


def checklist_blockers(reports: Sequence[StudyReport]) -> list[Blocker]:
    """Each failing checklist item of ``reports`` (see :func:`lineage`)."""
    return [Blocker(BlockerKind.CHECKLIST, f"{r.data.study.name}: the checklist fails on "
                    f"{f.question!r}: {f.summary}")
            for r in reports for f in r.findings if f.verdict is Verdict.FAIL]


def launch_config(store: Store, study: StudyRecord, params: Params,
                  baseline: str = DEFAULT_BASELINE) -> dict[str, Any]:
    """The configuration a launch of ``params`` from ``study`` records: the baseline's,
    with the study's fixed values, the trial's parameters and the training length.

    The training length belongs to the configuration: round 2's decay_steps, say, only
    means what it did at the length the evidence was gathered at."""
    current = store.baseline(baseline)
    spec = study_spec(study)
    length = {"max_steps": spec.model.max_steps} if spec.model.max_steps else {}
    return {**(current.config if current else {}), **spec.space.fixed, **params, **length}


def _blockers(reports: Sequence[StudyReport], report: StudyReport, row: ValueBest,
              name: str) -> list[Blocker]:
    """Everything that keeps the evidence from supporting a launch of ``row``."""
    out = checklist_blockers(reports)
    if row.spread_source != "seeds":
        out.append(Blocker(BlockerKind.NO_SEEDS, "no seed re-runs of the best "
                           "configurations: the gap cannot be judged against trial-to-trial "
                           f"variance. Run `tunebook rerun {name} --seeds 5` and launch "
                           f"from {name}-seeds"))
    leader = next(iter(ranked(report.isolation, report.data.minimize)), None)
    if leader is not None and leader.combo != row.combo:
        out.append(Blocker(BlockerKind.NOT_LEADER, f"{row.label} is not the best value: "
                           f"{leader.label} leads ({report.data.metric} {leader.center:.4g} "
                           f"vs {row.center:.4g})"))
    elif not report.conclusion.supported and not out:
        out.append(Blocker(BlockerKind.WITHIN_NOISE, report.conclusion.text))
    return out


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [old.get(k), new.get(k)] for k in sorted({*old, *new})
            if old.get(k) != new.get(k)}


def _notes(changes: dict[str, list[Any]], had_baseline: bool) -> list[str]:
    """The playbook's follow-ups a change implies (a new batch size voids the tuning)."""
    batch = [k for k in changes if "batch" in k.lower() and changes[k][0] is not None]
    if not (had_baseline and batch):
        return []
    return [f"{k} changes from {changes[k][0]} to {changes[k][1]}: the tuned nuisance values "
            "(learning rate, momentum/Adam betas, warmup, regularisation) were tuned for the "
            "old batch size and must be re-tuned for the new one (§5.1)" for k in batch]


def gather(store: Store, name: str, value: str, *,
           baseline: str = DEFAULT_BASELINE) -> Evidence:
    """Collect the evidence for launching ``value`` of study ``name`` into ``baseline``.

    Raises:
        SpecError: the study did not test ``value``, or no trial of it completed.
    """
    report = study_report(store, name)
    reports = lineage(store, report)
    row = parse_value(value, report.isolation)
    if row.best is None or row.center is None:
        raise SpecError(f"{row.label} has no completed trial in {name!r}: there is nothing "
                        "to launch; look at its failures (tunebook trials "
                        f"{name}) and run it again", field="--value")
    current = store.baseline(baseline)
    old = dict(current.config) if current is not None else {}
    config = launch_config(store, report.data.study, row.best.params, baseline)
    changes = _changes(old, config)
    isolation = [{"value": r.label, "center": r.center, "spread": r.spread,
                  "spread_source": r.spread_source, "seeds": len(r.seed_values),
                  "completed": r.completed,
                  "best_trial": report.data.label(r.best) if r.best else None}
                 for r in report.isolation]
    checklist = [{"study": r.data.study.name, "check": f.check.value, "question": f.question,
                  "verdict": f.verdict.value, "summary": f.summary}
                 for r in reports for f in r.findings]
    return Evidence(name, dict(row.combo), report.data.metric,
                    report.data.objective.goal, report.conclusion.text,
                    report.conclusion.supported, isolation, checklist,
                    _blockers(reports, report, row, name), config, changes,
                    _notes(changes, current is not None))


def launch(store: Store, evidence: Evidence, *, baseline: str = DEFAULT_BASELINE,
           force: bool = False, why: str = "", author: str | None = None) -> BaselineRecord:
    """Adopt the evidence's value into the next version of ``baseline`` if it holds.

    ``evidence`` comes from :func:`gather` against the same ``baseline``.

    Raises:
        LaunchRefused: a blocker stands and the launch is not forced.
        SpecError: ``force`` without ``why``.
    """
    if force and not why.strip():
        raise SpecError("--force needs --why \"…\": a forced launch records the reason it "
                        "overrode the evidence", field="--why")
    label = combo_label(evidence.value)
    if evidence.blockers and not force:
        raise LaunchRefused(f"not launching {label} from {evidence.study}: "
                            + " | ".join(evidence.texts)
                            + " (override with --force --why \"…\")", evidence.texts)
    return store.add_baseline(baseline, evidence.config, author=author or _user(), why=why,
                              source=f"launch of {label}", study=evidence.study,
                              evidence=evidence.as_json(), forced=bool(evidence.blockers))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"


def set_baseline(store: Store, config: dict[str, Any], *, source: str,
                 baseline: str = DEFAULT_BASELINE, why: str = "",
                 author: str | None = None) -> BaselineRecord | None:
    """Record ``config`` as the next version (None when it equals the current one)."""
    current = store.baseline(baseline)
    if current is not None and current.config == config:
        return None
    return store.add_baseline(baseline, config, author=author or _user(), why=why,
                              source=source)


def baseline_changes(versions: Sequence[BaselineRecord]) -> list[dict[str, list[Any]]]:
    """Per version, what it changed from the one before (the first: everything)."""
    out: list[dict[str, list[Any]]] = []
    old: dict[str, Any] = {}
    for record in versions:
        out.append(_changes(old, record.config))
        old = record.config
    return out


def read_config(path: Path) -> dict[str, Any]:
    """A baseline configuration from a YAML or JSON file: a flat mapping of values, or a
    study file (its ``fixed:`` section is the configuration it holds still).

    Read as ``tunebook run`` reads a study file, so ``1e-4`` is the float it is there.

    Raises:
        SpecError: unreadable, not a mapping, or a value that is not a plain scalar.
    """
    data = read_yaml(path)
    if isinstance(data, dict) and "trainer" in data and "objective" in data:
        data = dict(spec_from_dict(data, path=path).model.fixed)
    if not isinstance(data, dict) or not data:
        raise SpecError("it holds no configuration: write one `name: value` line per "
                        "hyperparameter (or pass a study file with a fixed: section)",
                        path=str(path))
    bad = [str(k) for k, v in data.items()
           if not isinstance(v, (str, int, float, bool)) and v is not None]
    if bad:
        raise SpecError(f"{', '.join(bad)} must be plain values (number, text, "
                        "true/false), not lists or mappings", path=str(path),
                        field=bad[0])
    return {str(k): v for k, v in data.items()}
