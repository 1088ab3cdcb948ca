"""What the autopilot does once a decision is recorded: run the study it names, make and
run a child study (seed re-runs, round 2), or launch into the baseline. Every act resumes:
run again after an interruption, it finishes what is left and adds nothing twice."""

from __future__ import annotations

from tunebook._spec_derive import Derivation
from tunebook.records import DecisionRecord
from tunebook.spec import spec_from_snapshot, study_spec
from tunebook.workflows._pilot_steps import Context
from tunebook.workflows._run import RunOptions, run
from tunebook.workflows.launch import gather, launch, set_baseline
from tunebook.workflows.rerun import create_child
from tunebook.workflows.round2 import round2_study

AUTHOR = "tunebook autopilot"


def act(ctx: Context, record: DecisionRecord, options: RunOptions) -> str | None:
    """Do what ``record`` decided (again, after an interruption: every act resumes)."""
    stats, store, name = record.stats, ctx.store, record.study or ctx.name
    if record.action == "launch":
        _launch(ctx, record)
        return None
    if record.action == "run":
        spec = spec_from_snapshot(stats["spec"], name)
    elif record.phase == "round2":
        spec = round2_study(store, stats["parent"], steps_factor=float(stats["factor"]),
                            top=1, child=name).spec
    else:
        parent = store.get_study(stats["parent"])
        trials = [(int(i), dict(p), int(s)) for i, p, s in stats["trials"]]
        spec = create_child(store, parent, trials, Derivation(
            name=name, description=stats["description"]))[1]
    return run(spec, store, options).stopped_by


def _launch(ctx: Context, record: DecisionRecord) -> None:
    """Adopt the decided value (or, with no scientific question, the best configuration)
    into the baseline, once: a resumed autopilot finds the version it added."""
    store, study = ctx.store, record.study or ""
    why = f"autopilot {ctx.name}: {record.why}"
    if "value" in record.stats:
        if any(b.study == study for b in store.baselines(ctx.baseline)):
            return
        evidence = gather(store, study, str(record.stats["value"]), baseline=ctx.baseline)
        launch(store, evidence, baseline=ctx.baseline, why=why, author=AUTHOR)
        return
    spec = study_spec(store.get_study(study))
    length = {"max_steps": spec.model.max_steps} if spec.model.max_steps else {}
    old = store.baseline(ctx.baseline)
    set_baseline(store, {**(old.config if old else {}), **spec.space.fixed,
                         **record.stats["config"], **length},
                 source=f"autopilot {ctx.name}: best configuration", baseline=ctx.baseline,
                 why=why, author=AUTHOR)
