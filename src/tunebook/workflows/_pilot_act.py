"""What the autopilot does once a decision is recorded: run the study it names, make and
run a child study (seed re-runs, round 2), or launch into the baseline. Every act resumes:
run again after an interruption, it finishes what is left and adds nothing twice."""

from __future__ import annotations

from typing import assert_never

from tunebook._spec_derive import Derivation
from tunebook.records import DecisionRecord
from tunebook.spec import spec_from_snapshot
from tunebook.workflows._launch import gather, launch, launch_config, set_baseline
from tunebook.workflows._pilot_payload import (
    Adopt,
    LongerRun,
    RunStudy,
    SeedRuns,
    Settings,
    payload_of,
)
from tunebook.workflows._pilot_steps import Context
from tunebook.workflows._rerun import create_child
from tunebook.workflows._round2 import round2_study
from tunebook.workflows._run import RunOptions, run

AUTHOR = "tunebook autopilot"


def act(ctx: Context, record: DecisionRecord, options: RunOptions) -> str | None:
    """Do what ``record`` decided (again, after an interruption: every act resumes);
    the signal that stopped a run, if one did."""
    store, name = ctx.store, record.study or ctx.name
    payload = payload_of(record)
    if payload is None or isinstance(payload, Settings):
        return None
    if isinstance(payload, Adopt):
        _launch(ctx, record, payload)
        return None
    if isinstance(payload, RunStudy):
        spec = spec_from_snapshot(payload.spec, name)
    elif isinstance(payload, LongerRun):
        spec = round2_study(store, payload.parent, steps_factor=payload.factor, top=1,
                            child=name).spec
    elif isinstance(payload, SeedRuns):
        spec = create_child(store, store.get_study(payload.parent), payload.trials,
                            Derivation(name=name, description=payload.description))[1]
    else:
        assert_never(payload)
    return run(spec, store, options).stopped_by


def _launch(ctx: Context, record: DecisionRecord, adopt: Adopt) -> None:
    """Adopt the decided value (or, with no scientific question, the best configuration)
    into the baseline, once: a resumed autopilot finds the version it added."""
    store, study = ctx.store, record.study or ""
    why = f"autopilot {ctx.name}: {record.why}"
    if adopt.value is not None:
        if any(b.study == study for b in store.baselines(ctx.baseline)):
            return
        evidence = gather(store, study, adopt.value, baseline=ctx.baseline)
        launch(store, evidence, baseline=ctx.baseline, why=why, author=AUTHOR)
        return
    config = launch_config(store, store.get_study(study), adopt.config or {}, ctx.baseline)
    set_baseline(store, config, source=f"autopilot {ctx.name}: best configuration",
                 baseline=ctx.baseline, why=why, author=AUTHOR)
