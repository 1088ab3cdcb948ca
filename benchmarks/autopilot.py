"""The autopilot against Optuna TPE at the same budget, and its conclusions on scientific
questions with a known answer.

1. **Regret** on the sampler benchmark's real trainings (``benchmarks/_workloads.py``:
   MLPs on digits, wine and diabetes; 5 nuisance parameters and a diverging region), the
   question being the best configuration. ``tunebook autopilot --budget B`` (the library
   call, 2 workers, real processes, SQLite) against Optuna's TPESampler (multivariate,
   constant liar) given the same B trainings of the same space. Each method's *final
   configuration* (the one the autopilot adopted: the best mean over seeds of the 3
   configurations it settled; TPE's best trial) is trained again on 3
   fresh seeds; its regret is that mean, normalised as in ``benchmarks.samplers`` (0 = the
   best of a fixed pool of random trainings, 1 = the pool's median). Printed: mean regret
   of each, the ratio autopilot / TPE (goal ≤ 1), and the paired difference with its
   standard error over (workload, seed).
2. **Conclusions** on a constructed trainer where value ``b`` is truly better (launch
   ``b``), and one where the values tie (no launch): launches right, wrong, "not yet".
3. **Trainings per phase**, averaged over the runs, and the most any run spent.

The autopilot's shares and thresholds were set on the toy trainer of
``tests/test_autopilot.py``, never on these workloads: every figure here is held out.

4. **Wrong spaces** (``--spaces``): the same workloads with the space written the way people
   get it wrong: ``lr-low``, the learning-rate range's upper bound 10× (even seeds) or 30×
   (odd seeds) below where the workload trains best; ``lr-high``, its lower bound that far
   above it (every training there diverges); ``wd-out``, a weight-decay range above the
   small values that train best. Each prints its regret beside the well-specified space's
   (goal ≤ 1.5× at 80 trainings) and TPE's on the same wrong space (goal ≤ 0.5×), and
   counts widenings into a region where every new trial diverged and cuts that left out the
   best feasible trial of the round they were read from (goal 0 each).

Usage: ``python -m benchmarks.autopilot [--seeds 5] [--budgets 40,80]
[--spaces well,lr-low,lr-high,wd-out] [--quick]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import tempfile
import textwrap
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from benchmarks._workloads import WORKLOADS, Workload
from benchmarks.samplers import _distributions, _optuna_sampler, _pool
from tunebook import load_spec, open_store
from tunebook.records import TrialStatus
from tunebook.runner.zygote import close_zygotes
from tunebook.space import ChoiceDomain, Dimension, FloatDomain, IntDomain, Scale, Space
from tunebook.spec import study_spec
from tunebook.workflows import RunOptions, autopilot
from tunebook.workflows._pilot_budget import spent
from tunebook.workflows._pilot_payload import Adopt, SeedRuns, payload_of

REAL = ("digits-mlp", "wine-mlp", "diabetes-mlp")
FRESH_SEEDS = (10_001, 10_002, 10_003)
#: Where each workload trains best: the learning rate of its best trainings among the 400
#: random ones of ``benchmarks/data/<name>.csv``.
LR_STAR = {"digits-mlp": 0.4, "wine-mlp": 0.3, "diabetes-mlp": 0.015}
SPACES = ("well", "lr-low", "lr-high", "wd-out")
ROOT = Path(__file__).resolve().parent.parent

REAL_TRAINER = '''
import torch

import tunebook
from benchmarks._workloads import WORKLOADS, _data

# Loaded at import, in the preloaded worker process that forks every trial: each trial
# then starts with torch and the data in memory instead of loading them again.
for _name in ("digits", "wine", "diabetes"):
    _data(_name)
torch.set_num_threads(1)
WORKLOADS["wine-mlp"].train({"lr": 0.01, "momentum": 0.0, "weight_decay": 0.0, "hidden": 8,
                             "act": "relu"}, 0)  # torch's one-off start-up costs, paid once


def main(t):
    torch.set_num_threads(1)
    workload = WORKLOADS[t.params["workload"]]
    params = {k: v for k, v in t.params.items() if k != "workload"}
    value = workload.train(params, t.seed)
    if value is None:
        raise tunebook.Infeasible("the training loss blew up")
    t.report(workload.steps, val_loss=value)
'''

TOY_TRAINER = '''
import math
import random

import tunebook


def main(t):
    p = t.params
    rng = random.Random(t.seed * 7919 + 17)
    d = math.log10(p["lr"]) - math.log10(p["lr_star"])
    final = 1.0 + d * d + (p["gap"] if p["act"] == "a" else 0.0) + rng.gauss(0, p["noise"])
    for step in range(1, 9):
        t.report(step, loss=final + 0.5 ** step)
'''


@dataclass
class Outcome:
    """One autopilot run: the final configuration, the decision, trainings per phase."""

    config: dict[str, Any]
    decision: str
    value: str | None
    phases: dict[str, float] = field(default_factory=dict)
    spent: float = 0.0
    bad_widen: int = 0
    bad_cut: int = 0


def _param(dim: Any) -> dict[str, Any]:
    d = dim.domain
    if isinstance(d, ChoiceDomain):
        return {"values": list(d.values)}
    kind = "int" if isinstance(d, IntDomain) else "float"
    assert isinstance(d, (IntDomain, FloatDomain))
    return {"type": kind, "low": d.low, "high": d.high,
            **({"scale": "log"} if d.scale is Scale.LOG else {})}


def _write(folder: Path, trainer: str, study: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trainer.py").write_text(textwrap.dedent(trainer))
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def _pilot(folder: Path, trainer: str, study: dict[str, Any], budget: int) -> Outcome:
    """Run the autopilot in its own store; read what it concluded and spent."""
    path = _write(folder, trainer, study)
    store = open_store(str(folder / "tunebook.db"))
    pilot = autopilot(load_spec(path), store, budget=budget, options=RunOptions(workers=2))
    close_zygotes()  # one per run folder: do not keep dozens of torch processes around
    phases: dict[str, float] = defaultdict(float)
    held: dict[str, int] = {}
    for d in pilot.timeline:  # what each decision added to its study
        if d.state.acted and d.study and d.action == "run":
            phases[d.phase] += d.stats["trials"] - held.get(d.study, 0)
            held[d.study] = d.stats["trials"]
        elif d.state.acted and isinstance(runs := payload_of(d), SeedRuns):
            phases[d.phase] += len(runs.trials) - held.get(d.study or "", 0)
            held[d.study or ""] = len(runs.trials)
    names = [d.study for d in pilot.timeline if d.study and d.action in ("run", "child")]
    decision = next((d for d in pilot.timeline if d.phase == "decide"), None)
    settled = next((d for d in pilot.timeline if d.phase == "settle"
                    and d.action == "child"), None)
    # The configuration it adopted: the best mean over seeds of those it settled.
    adopt = payload_of(decision) if decision else None
    seeds = payload_of(settled) if settled else None
    config = (dict(adopt.config) if isinstance(adopt, Adopt) and adopt.config
              else dict(seeds.trials[0][1]) if isinstance(seeds, SeedRuns)
              else _best(store, pilot))
    rounds = list(dict.fromkeys(d.study for d in pilot.timeline if d.study and d.action == "run"
                                and d.phase in ("explore", "fix", "exploit")))
    return Outcome(config, decision.action if decision else "none",
                   decision.stats.get("value") if decision else None, dict(phases),
                   spent(store, names, study.get("max_steps")).done,
                   *_edge_checks(store, rounds))


def _edge_checks(store: Any, rounds: Sequence[str]) -> tuple[int, int]:
    """Widenings into a region where every new trial diverged, and cuts that left out the
    best feasible trial of the round they were read from (each round against the one
    before it)."""
    widened_badly = cut_badly = 0
    for prev, cur in itertools.pairwise(rounds):
        old, new = (study_spec(store.get_study(n)).space for n in (prev, cur))
        before = store.trials(store.tree(prev).ids)
        best = min((t for t in before if t.status is TrialStatus.COMPLETED),
                   key=lambda t: float(t.value), default=None)
        after = [t for t in store.trials(store.tree(cur).ids) if t.status.finished]
        for dim in new.nuisance:
            try:
                was = old.dimension(dim.key).domain
            except KeyError:
                continue
            now = dim.domain
            if not isinstance(now, FloatDomain | IntDomain) or type(was) is not type(now):
                continue
            beyond = [t for t in after if not was.contains(t.params.get(dim.key, was.low))]
            if (now.low < was.low or now.high > was.high) and beyond and all(
                    t.status is TrialStatus.INFEASIBLE for t in beyond):
                widened_badly += 1
            if best is not None and (now.low > was.low or now.high < was.high) \
                    and not now.contains(best.params[dim.key]):
                cut_badly += 1
    return widened_badly, cut_badly


def _best(store: Any, pilot: Any) -> dict[str, Any]:
    names = [d.study for d in pilot.timeline if d.study and d.action in ("run", "child")]
    done = [t for n in names for t in store.trials(store.tree(n).ids, TrialStatus.COMPLETED)]
    return dict(min(done, key=lambda t: float(t.value or math.inf)).params) if done else {}


def _tpe(workload: Workload, seed: int, budget: int) -> dict[str, Any]:
    """Optuna TPE given ``budget`` trainings (each its own seed, as the autopilot's)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=_optuna_sampler("optuna-tpe", seed))
    dists = _distributions(workload.space)
    for i in range(budget):
        trial = study.ask(dists)
        value = workload.train(dict(trial.params), seed * 1000 + i)
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
    done = [t for t in study.trials if t.value is not None]
    return dict(min(done, key=lambda t: float(t.value)).params) if done else {}


def _regret(workload: Workload, config: dict[str, Any], pool: Sequence[float]) -> float:
    """The configuration trained on fresh seeds, its mean normalised (a divergence or no
    configuration at all: the pool's median, regret 1)."""
    keys = {d.key for d in workload.space.nuisance}
    params = {k: v for k, v in config.items() if k in keys}
    best, median = min(pool), statistics.median(pool)
    if set(params) != keys:
        return 1.0
    values = [workload.train(params, s) for s in FRESH_SEEDS]
    mean = statistics.fmean(v if v is not None else median for v in values)
    return (mean - best) / (median - best)


def variant(workload: Workload, space: str, seed: int) -> Workload:
    """``workload`` with its space written wrong as ``space`` says (module docstring)."""
    if space == "well":
        return workload
    off, star = (10.0 if seed % 2 == 0 else 30.0), LR_STAR[workload.name]
    dims = {d.key: d for d in workload.space.nuisance}
    if space == "lr-low":
        dims["lr"] = Dimension("lr", FloatDomain(star / off / 1000, star / off, Scale.LOG))
    elif space == "lr-high":
        dims["lr"] = Dimension("lr", FloatDomain(star * off, star * off * 1000, Scale.LOG))
    elif space == "wd-out":
        dims["weight_decay"] = Dimension("weight_decay", FloatDomain(3e-3, 0.3, Scale.LOG))
    else:
        raise SystemExit(f"unknown space {space!r}: choose from {', '.join(SPACES)}")
    return replace(workload, space=Space(nuisance=tuple(dims.values())))


def _real_study(workload: Workload, seed: int) -> dict[str, Any]:
    name = workload.name
    return {"name": name, "objective": {"metric": "val_loss"},
            "trainer": {"train": "trainer:main"}, "fixed": {"workload": name},
            "nuisance": {d.key: _param(d) for d in workload.space.nuisance},
            "budget": 10, "sampler": {"type": "quasi_random", "seed": seed}}


def _toy_study(case: str, seed: int) -> dict[str, Any]:
    gap = {"winner": 0.2, "tie": 0.0}[case]
    return {"name": case, "objective": {"metric": "loss"}, "trainer": {"train": "trainer:main"},
            "fixed": {"gap": gap, "lr_star": 0.3 if seed % 2 else 0.01, "noise": 0.05},
            "scientific": {"act": {"values": ["a", "b"]}},
            "nuisance": {"lr": {"low": 1e-4, "high": 0.1, "scale": "log"},
                         "wd": {"low": 0.0, "high": 1.0}},
            "budget": 10, "max_steps": 8, "sampler": {"type": "quasi_random", "seed": seed}}


def _mean_se(xs: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(xs)
    return mean, (statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else math.nan)


@dataclass
class Cell:
    """One (space, budget): regrets paired by (workload, seed), and the edge counts."""

    ours: list[float] = field(default_factory=list)
    tpe: list[float] = field(default_factory=list)
    bad_widen: int = 0
    bad_cut: int = 0
    most: float = 0.0


def regret_part(budgets: Sequence[int], seeds: Sequence[int], spaces: Sequence[str],
                work: Path, phases: dict[str, list[float]],
                runs: list[dict[str, Any]] | None = None) -> None:
    import torch

    torch.set_num_threads(1)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    pools = {name: _pool(name) for name in REAL}
    print("\n1. regret of the final configuration (3 fresh seeds), autopilot vs Optuna TPE")
    print(f"{'budget':>6} {'space':>8} {'autopilot':>10} {'TPE':>8} {'ratio':>6} "
          f"{'paired diff ± SE':>18} {'vs well':>8} {'widen↯':>7} {'cut↯':>5} "
          f"{'max spent':>10}")
    for budget in budgets:
        cells: dict[str, Cell] = {}
        for space in spaces:
            cell = cells[space] = Cell()
            for name in REAL:
                for seed in seeds:
                    workload = variant(WORKLOADS[name], space, seed)
                    run = _pilot(work / f"{name}-{space}-{budget}-{seed}", REAL_TRAINER,
                                 _real_study(workload, seed), budget)
                    for phase, used in run.phases.items():
                        phases[phase].append(used)
                    cell.most = max(cell.most, run.spent)
                    cell.bad_widen += run.bad_widen
                    cell.bad_cut += run.bad_cut
                    cell.ours.append(_regret(workload, run.config, pools[name]))
                    cell.tpe.append(_regret(workload, _tpe(workload, seed, budget),
                                            pools[name]))
                    if runs is not None:
                        runs.append({"budget": budget, "space": space, "workload": name,
                                     "seed": seed, "autopilot": cell.ours[-1],
                                     "tpe": cell.tpe[-1], "bad_widen": run.bad_widen,
                                     "bad_cut": run.bad_cut})
            _print_cell(budget, space, cell, cells.get("well"))


def _print_cell(budget: int, space: str, cell: Cell, well: Cell | None) -> None:
    diff, se = _mean_se([a - b for a, b in zip(cell.ours, cell.tpe, strict=True)])
    a, b = statistics.fmean(cell.ours), statistics.fmean(cell.tpe)
    home = statistics.fmean(well.ours) if well and space != "well" else math.nan
    print(f"{budget:>6} {space:>8} {a:>10.3f} {b:>8.3f} {a / b if b else math.nan:>6.2f} "
          f"{diff:>+10.3f} ± {se:.3f} {a / home if home else math.nan:>8.2f} "
          f"{cell.bad_widen:>7} {cell.bad_cut:>5} {cell.most:>10g}")


def conclusion_part(budget: int, seeds: Sequence[int], work: Path,
                    phases: dict[str, list[float]]) -> None:
    print(f"\n2. conclusions at budget {budget} (b truly better by 4 noise σ / no difference)")
    print(f"{'case':>8} {'right launch':>13} {'wrong launch':>13} {'not yet':>8}")
    for case in ("winner", "tie"):
        right = wrong = waited = 0
        for seed in seeds:
            run = _pilot(work / f"{case}-{seed}", TOY_TRAINER, _toy_study(case, seed), budget)
            for phase, used in run.phases.items():
                phases[phase].append(used)
            launched = run.decision == "launch"
            if launched and case == "winner" and run.value == "act=b":
                right += 1
            elif launched:
                wrong += 1
            else:
                waited += 1
        print(f"{case:>8} {right:>13} {wrong:>13} {waited:>8}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budgets", default="40,80")
    parser.add_argument("--spaces", default=",".join(SPACES),
                        help="well and the wrong spaces to run (module docstring)")
    parser.add_argument("--no-conclusions", action="store_true",
                        help="skip part 2 (the constructed scientific questions)")
    parser.add_argument("--save", default=None, help="write each run's regrets (JSON) here, "
                        "to pair with another version's (benchmarks.pair)")
    parser.add_argument("--quick", action="store_true", help="1 seed, budget 40, digits only")
    args = parser.parse_args(argv)
    seeds = list(range(1 if args.quick else args.seeds))
    budgets = [40] if args.quick else [int(b) for b in args.budgets.split(",")]
    if args.quick:
        global REAL
        REAL = ("digits-mlp",)
    started = time.time()
    phases: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        runs: list[dict[str, Any]] = []
        regret_part(budgets, seeds, args.spaces.split(","), Path(tmp), phases, runs)
        if args.save:
            Path(args.save).write_text(json.dumps(runs, indent=1))
        if not args.no_conclusions:
            conclusion_part(40, seeds, Path(tmp), phases)
    print("\n3. trainings per phase (mean over the runs that ran it)")
    for phase in ("explore", "fix", "exploit", "settle", "round2"):
        if phases.get(phase):
            print(f"{phase:>8}: {statistics.fmean(phases[phase]):6.1f} "
                  f"({len(phases[phase])} runs)")
    print(f"\n{time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
