"""Samplers on real small trainings: tunebook's quasi_random and bayes against Optuna's.

Baselines: Optuna's RandomSampler, QMCSampler, TPESampler (multivariate, constant liar: Optuna
5's recommended TPE) and GPSampler, on the same workloads (``benchmarks/_workloads.py``: an MLP
and a CNN on digits, MLPs on diabetes and wine; each with a diverging region), the same
budgets and seeds. A diverged training is infeasible: tunebook records it, Optuna gets a
failed trial. Nothing is cached across seeds.

``tb-bayes-asha`` is bayes with tunebook's ASHA pruning, read at equal compute: at budget
B it has spent the steps of B full trainings (pruned trials cost only the steps they ran).

Printed per budget (10, 20, 40 trials): mean normalised regret over workloads and seeds
(0 = the best of a fixed pool of 128 random trainings of that workload, 1 = the pool's
median), the ratio bayes / best Optuna sampler (goal ≤ 0.8), the infeasible share of each
sampler's trials, the median suggestion latency; then suggestion latency on synthetic
histories of 40, 200 and 1,000 trials against Optuna's GPSampler (goal: ratio ≤ 1.0, bayes
≤ 1 s at 1,000). A plot of regret against trials is saved.

Usage: ``python -m benchmarks.samplers [--quick] [--seeds 5] [--trials 40] [--plot FILE]
[--latency]`` (``--latency``: only the latency, in 5 and 10 dimensions). The wider,
held-out comparison is ``benchmarks.generalise``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from benchmarks._workloads import WORKLOADS, Workload
from tunebook._spec_model import PruningModel
from tunebook.records import Objective, TrialRecord, TrialStatus
from tunebook.runner.pruning import decide_asha
from tunebook.samplers import Ask, QuasiRandomSampler, RandomSampler
from tunebook.samplers.bayes import BayesSampler
from tunebook.space import ChoiceDomain, FloatDomain, IntDomain, Params, Scale, Space

TUNEBOOK = ("tb-quasi_random", "tb-bayes", "tb-bayes-asha")
#: The pruning rule of ``tb-bayes-asha``: tunebook's ASHA at its defaults (η = 3, the
#: first rung a third of the way), deciding at each of the workload's evaluations.
ASHA = PruningModel(type="asha", reduction_factor=3, grace=1 / 3, min_trials=5)
OPTUNA = ("optuna-random", "optuna-qmc", "optuna-tpe", "optuna-gp")
BUDGETS = (10, 20, 40)
POOL = 128


@dataclass(frozen=True)
class Run:
    """One sampler's run. ``values[k]``: the k-th trial's value, or for a pruning run the
    best completed value once (k + 1) full trainings' worth of steps were spent (so every
    sampler is read at equal compute); ``infeasible``: the share of its trials that
    diverged."""

    workload: str
    sampler: str
    seed: int
    values: list[float | None]
    latency: list[float]
    infeasible: float = 0.0


def _record(index: int, params: Params, value: float | None) -> TrialRecord:
    status = TrialStatus.COMPLETED if value is not None else TrialStatus.INFEASIBLE
    return TrialRecord(id=index + 1, study_id=1, index=index, params=params, seed=index,
                       status=status, value=value)


#: One training of a configuration: its value, or None when it diverged.
Evaluate = Callable[[Params], "float | None"]


def _tunebook(name: str, workload: Workload, seed: int, trials: int) -> Run:
    values, latency = ask_tell(name, workload.space, lambda p: workload.train(p, seed), seed,
                               trials)
    return Run(workload.name, name, seed, values, latency, _share_none(values))


def ask_tell(name: str, space: Space, evaluate: Evaluate, seed: int, trials: int,
             ) -> tuple[list[float | None], list[float]]:
    """Run sampler ``name`` (tb-* or optuna-*) for ``trials`` trials: values, latencies."""
    if name.startswith("optuna-"):
        return _optuna_loop(name, space, evaluate, seed, trials)
    sampler = BayesSampler(seed) if name == "tb-bayes" else (
        RandomSampler(seed) if name == "tb-random" else QuasiRandomSampler(seed))
    history: list[TrialRecord] = []
    values, latency = [], []
    for index in range(trials):
        started = time.perf_counter()
        params = sampler.suggest(Ask(space, [], index, Objective("loss"),
                                     history=list(history)))
        latency.append(time.perf_counter() - started)
        value = evaluate(params)
        values.append(value)
        history.append(_record(index, params, value))
    return values, latency


def _share_none(values: Sequence[float | None]) -> float:
    return sum(v is None for v in values) / max(1, len(values))


def _tunebook_asha(workload: Workload, seed: int, trials: int) -> Run:
    """bayes with ASHA pruning, given the steps of ``trials`` full trainings in all."""
    sampler, history = BayesSampler(seed), []
    curves: list[list[tuple[int, float]]] = []
    spent, index, best = 0, 0, None
    values: list[float | None] = []
    latency: list[float] = []
    diverged = 0
    while spent < trials * workload.steps:
        started = time.perf_counter()
        params = sampler.suggest(Ask(workload.space, [], index, Objective("loss"),
                                     history=list(history)))
        latency.append(time.perf_counter() - started)
        curve: list[tuple[int, float]] = []
        verdict: list[Any] = []

        def monitor(step: int, value: float, curve: Any = curve, verdict: Any = verdict,
                    ) -> bool:
            curve.append((step, value))
            cut = decide_asha(curve, curves, ASHA, workload.steps, Objective("loss"))
            verdict.append(cut)
            return cut is None

        value = workload.train(params, seed, monitor=monitor)
        pruned = verdict[-1] if verdict and verdict[-1] is not None else None
        spent += pruned.step if pruned is not None else workload.steps
        if value is None:
            diverged += 1
            history.append(_record(index, params, None))
        elif pruned is not None:
            history.append(replace(_record(index, params, pruned.threshold),
                                   status=TrialStatus.PRUNED))
        else:
            curve.append((workload.steps, value))
            history.append(_record(index, params, value))
            best = value if best is None else min(best, value)
        curves.append(curve)
        while len(values) < min(trials, spent // workload.steps):
            values.append(best)
        index += 1
    return Run(workload.name, "tb-bayes-asha", seed, values, latency, diverged / index)


def _distributions(space: Space) -> dict[str, Any]:
    import optuna

    out: dict[str, Any] = {}
    for dim in space.nuisance:
        d = dim.domain
        if isinstance(d, ChoiceDomain):
            out[dim.key] = optuna.distributions.CategoricalDistribution(list(d.values))
        elif isinstance(d, IntDomain):
            out[dim.key] = optuna.distributions.IntDistribution(d.low, d.high,
                                                                log=d.scale is Scale.LOG)
        else:
            assert isinstance(d, FloatDomain)
            out[dim.key] = optuna.distributions.FloatDistribution(d.low, d.high,
                                                                  log=d.scale is Scale.LOG)
    return out


def _optuna_sampler(name: str, seed: int) -> Any:
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return {"optuna-random": lambda: optuna.samplers.RandomSampler(seed=seed),
            "optuna-qmc": lambda: optuna.samplers.QMCSampler(seed=seed, scramble=True),
            "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                                             constant_liar=True),
            "optuna-gp": lambda: optuna.samplers.GPSampler(seed=seed)}[name]()


def _optuna(name: str, workload: Workload, seed: int, trials: int) -> Run:
    values, latency = _optuna_loop(name, workload.space, lambda p: workload.train(p, seed),
                                   seed, trials)
    return Run(workload.name, name, seed, values, latency, _share_none(values))


def _optuna_loop(name: str, space: Space, evaluate: Evaluate, seed: int, trials: int,
                 ) -> tuple[list[float | None], list[float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=_optuna_sampler(name, seed))
    dists = _distributions(space)
    values, latency = [], []
    for _ in range(trials):
        started = time.perf_counter()
        trial = study.ask(dists)
        latency.append(time.perf_counter() - started)
        value = evaluate(dict(trial.params))
        values.append(value)
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
    return values, latency


def _one(task: tuple[str, str, int, int]) -> Run:
    import torch

    torch.set_num_threads(1)
    workload_name, sampler, seed, trials = task
    workload = WORKLOADS[workload_name]
    if sampler == "tb-bayes-asha":
        return _tunebook_asha(workload, seed, trials)
    run = _tunebook if sampler in TUNEBOOK else _optuna
    return run(sampler, workload, seed, trials)


def _pool(workload_name: str) -> list[float]:
    """The fixed reference pool: random trainings of the workload (feasible values)."""
    return random_trainings(WORKLOADS[workload_name])


def random_trainings(workload: Workload, size: int = POOL) -> list[float]:
    """Feasible values of ``size`` random trainings (a fixed seed): a regret reference."""
    import torch

    torch.set_num_threads(1)
    rows = RandomSampler(seed=12345).params_at(workload.space, [], range(size))
    return [v for p in rows if (v := workload.train(p, 0)) is not None]


def regret(values: Sequence[float | None], budget: int, pool: Sequence[float]) -> float:
    """Best feasible value of the first ``budget`` trials, 0 = pool best, 1 = pool median."""
    seen = [v for v in values[:budget] if v is not None]
    best, median = min(pool), statistics.median(pool)
    found = min(seen) if seen else median
    return (found - best) / (median - best)


def _latency(n: int, space: Space, repeats: int = 5) -> tuple[float, float | None]:
    """Median suggestion time of bayes and of Optuna's GPSampler on an n-trial history."""
    import optuna

    rows = RandomSampler(seed=7).params_at(space, [], range(n))

    def value(p: Params) -> float:  # a bowl in the unit cube
        return float(sum((u - 0.3) ** 2 for u in space.unit_from_params(p).values()))

    history = [_record(i, p, value(p)) for i, p in enumerate(rows)]
    ask = Ask(space, [], n, Objective("loss"), history=history)
    bayes = []
    for r in range(repeats):
        started = time.perf_counter()
        BayesSampler(seed=r).suggest(ask)
        bayes.append(time.perf_counter() - started)
    if n > 200:
        return statistics.median(bayes), None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = _distributions(space)
    gp = []
    for r in range(repeats):
        study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=r))
        study.add_trials([optuna.trial.create_trial(params=p, distributions=dists,
                                                    value=value(p)) for p in rows])
        started = time.perf_counter()
        study.ask(dists)
        gp.append(time.perf_counter() - started)
    return statistics.median(bayes), statistics.median(gp)


def _report(runs: list[Run], pools: dict[str, list[float]], trials: int) -> None:
    samplers = list(dict.fromkeys(r.sampler for r in runs))
    print(f"{'sampler':18s}" + "".join(f"  regret@{b:<3d}" for b in BUDGETS if b <= trials)
          + "  infeasible  latency(ms)")
    means: dict[str, dict[int, float]] = {}
    for s in samplers:
        mine = [r for r in runs if r.sampler == s]
        means[s] = {b: float(np.mean([regret(r.values, b, pools[r.workload]) for r in mine]))
                    for b in BUDGETS if b <= trials}
        infeasible = np.mean([r.infeasible for r in mine])
        latency = statistics.median(x for r in mine for x in r.latency) * 1000
        print(f"{s:18s}" + "".join(f"  {means[s][b]:10.3f}" for b in means[s])
              + f"  {infeasible:10.1%}  {latency:10.1f}")
    workloads = list(dict.fromkeys(r.workload for r in runs))
    print(f"regret at {trials} trials by workload: " + ", ".join(workloads))
    for s in samplers:
        cells = [np.mean([regret(r.values, trials, pools[w]) for r in runs
                          if r.sampler == s and r.workload == w]) for w in workloads]
        print(f"  {s:16s}" + "".join(f"  {c:8.3f}" for c in cells))
    peers = [s for s in OPTUNA if s in means]
    for b in means.get("tb-bayes", {}) if peers else {}:
        peer = min(peers, key=lambda s: means[s][b])
        print(f"ratio bayes/{peer} at {b} trials = {means['tb-bayes'][b] / means[peer][b]:.3f}")


def _plot(runs: list[Run], pools: dict[str, list[float]], trials: int, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in dict.fromkeys(r.sampler for r in runs):
        mine = [r for r in runs if r.sampler == s]
        curve = [np.mean([regret(r.values, b, pools[r.workload]) for r in mine])
                 for b in range(1, trials + 1)]
        ax.plot(range(1, trials + 1), curve, label=s, lw=2.5 if s == "tb-bayes" else 1.2)
    ax.set(xlabel="trials", ylabel="mean normalised regret of the best so far",
           title="Samplers on 4 small trainings (lower is better)", ylim=(0.0, 0.6))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot saved to {path}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 workloads, 2 seeds, 20 trials")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plot", default="sampler-benchmark.png")
    parser.add_argument("--samplers", default=",".join((*TUNEBOOK, *OPTUNA)),
                        help="comma-separated subset to run (the report needs tb-bayes and "
                        "at least one optuna sampler for its ratios)")
    parser.add_argument("--latency", action="store_true",
                        help="only the suggestion latency against Optuna's GPSampler")
    args = parser.parse_args(argv)
    if args.latency:
        print_latency()
        return
    names = list(WORKLOADS)
    seeds, trials = args.seeds, args.trials
    if args.quick:
        names, seeds, trials = ["diabetes-mlp", "wine-mlp"], 2, 20
    chosen = [s for s in args.samplers.split(",") if s]
    tasks = [(w, s, seed, trials) for w in names for s in chosen for seed in range(seeds)]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        pools = dict(zip(names, pool.map(_pool, names), strict=True))
        runs: list[Run] = []
        for i, run in enumerate(pool.map(_one, tasks), 1):
            runs.append(run)
            if i % 10 == 0 or i == len(tasks):
                print(f"  {i}/{len(tasks)} runs ({time.perf_counter() - started:.0f} s)",
                      flush=True)
    print(f"{len(names)} workloads x {seeds} seeds x {trials} trials "
          f"({time.perf_counter() - started:.0f} s)")
    _report(runs, pools, trials)
    _plot(runs, pools, trials, args.plot)
    if "tb-bayes" not in chosen:
        return
    print_latency()


def print_latency() -> None:
    """Suggestion latency against Optuna's GPSampler, in 5 and in 10 dimensions."""
    from benchmarks._workloads_wide import DEEP_SPACE

    for label, space in (("5-d digits-mlp", WORKLOADS["digits-mlp"].space),
                         ("10-d diabetes-deep", DEEP_SPACE)):
        for n in (40, 200, 1000):
            bayes, gp = _latency(n, space)
            text = f"latency {label} at {n} trials: bayes {bayes * 1000:.0f} ms"
            if gp is not None:
                text += (f", optuna-gp {gp * 1000:.0f} ms, ratio bayes/optuna-gp = "
                         f"{bayes / gp:.3f}")
            print(text, flush=True)


if __name__ == "__main__":
    main()
