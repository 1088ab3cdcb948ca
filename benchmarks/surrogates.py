"""The surrogate tier of the sampler benchmark: real evaluations, then a fitted model.

Real trainings are too slow for the seeds a 20 % difference needs (issue 23: with 5 seeds
x 4 workloads the standard error was as large as the effect). As HPOBench and YAHPO Gym do,
each workload is trained for real at a few hundred random configurations once
(``collect``, saved under ``benchmarks/data/``), and a model fitted to them stands in for
the training: an extra-trees regressor on the log loss (the landscape), a classifier for
divergence (the infeasible region), and the measured seed-to-seed spread as noise. A
sampler run on the surrogate then takes milliseconds per trial, so 50+ seeds per sampler
fit in minutes; conclusions are confirmed on the real tier.

Usage: ``python -m benchmarks.surrogates collect [--evals 400] [--only NAME,...]``
(re-collects the real evaluations; about 12 minutes on 2 cores) and
``python -m benchmarks.surrogates check`` (each surrogate's fit on held-out evaluations).
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._workloads import WORKLOADS, Workload
from benchmarks._workloads_wide import WIDE
from tunebook.samplers import RandomSampler
from tunebook.space import ChoiceDomain, IntDomain, Params, Space

ALL: dict[str, Workload] = {**WORKLOADS, **WIDE}
DATA = Path(__file__).parent / "data"
#: Configurations trained once each (at seed = their row), and how many of them are
#: trained at REPEATS more seeds to measure the seed-to-seed spread.
EVALS, NOISE_CONFIGS, REPEATS = 400, 16, 3


def features(space: Space, rows: Sequence[Params]) -> np.ndarray:
    """Unit coordinates per nuisance dimension (a choice's bin centre for categoricals)."""
    out = np.zeros((len(rows), len(space.nuisance)))
    for j, dim in enumerate(space.nuisance):
        for i, row in enumerate(rows):
            d = dim.domain
            out[i, j] = ((d.index(row[dim.key]) + 0.5) / len(d.values)
                         if isinstance(d, ChoiceDomain) else d.to_unit(row[dim.key]))
    return out


def one_thread() -> None:
    """One BLAS and one torch thread per worker process (the pools' initializer): two
    processes with two BLAS threads each on two cores ran 5x slower than this."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def _train_rows(task: tuple[str, list[tuple[int, Params]]]) -> list[tuple[int, float | None]]:
    name, rows = task
    return [(seed, ALL[name].train(params, seed)) for seed, params in rows]


def collect(name: str, evals: int = EVALS, workers: int = 2) -> Path:
    """Train ``name`` at ``evals`` random configurations (+ seed repeats); write a CSV."""
    workload = ALL[name]
    configs = RandomSampler(seed=2026).params_at(workload.space, [], range(evals))
    jobs = [(i, i, p) for i, p in enumerate(configs)]
    jobs += [(i, evals + 1000 * r + i, configs[i]) for i in range(min(NOISE_CONFIGS, evals))
             for r in range(1, REPEATS + 1)]
    chunks = [(name, [(seed, p) for _, seed, p in jobs[k::workers * 4]])
              for k in range(workers * 4)]
    with ProcessPoolExecutor(workers, initializer=one_thread) as pool:
        done = [r for part in pool.map(_train_rows, chunks) for r in part]
    value_of = dict(done)
    DATA.mkdir(exist_ok=True)
    path = DATA / f"{name}.csv"
    keys = [d.key for d in workload.space.nuisance]
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["config", "seed", *keys, "value"])
        for config, seed, params in jobs:
            value = value_of[seed]
            out.writerow([config, seed, *(params[k] for k in keys),
                          "" if value is None else f"{value:.6g}"])
    return path


@dataclass(frozen=True)
class Evaluations:
    """One workload's real evaluations: configs, their seeds and values (None: diverged)."""

    config: np.ndarray
    params: list[Params]
    values: list[float | None]


def load(name: str) -> Evaluations:
    space = ALL[name].space
    with (DATA / f"{name}.csv").open() as f:
        rows = list(csv.DictReader(f))
    params = [{d.key: _parse(d, r[d.key]) for d in space.nuisance} for r in rows]
    values = [float(r["value"]) if r["value"] else None for r in rows]
    return Evaluations(np.array([int(r["config"]) for r in rows]), params, values)


def _parse(dim: Any, text: str) -> Any:
    d = dim.domain
    if isinstance(d, ChoiceDomain):
        return next(v for v in d.values if str(v) == text)
    return int(text) if isinstance(d, IntDomain) else float(text)


class Surrogate:
    """A workload's stand-in: mean log loss, P(diverged), and seed noise in log space."""

    def __init__(self, name: str, evaluations: Evaluations | None = None):
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

        self.name, self.space = name, ALL[name].space
        ev = evaluations or load(name)
        x = features(self.space, ev.params)
        ok = np.array([v is not None for v in ev.values])
        y = np.log(np.array([v for v in ev.values if v is not None]))
        self.regressor = ExtraTreesRegressor(64, min_samples_leaf=2, random_state=0,
                                             n_jobs=1).fit(x[ok], y)
        self.classifier = (ExtraTreesClassifier(64, min_samples_leaf=2, random_state=0,
                                                n_jobs=1).fit(x, ok)
                           if not ok.all() else None)
        self.noise = _seed_spread(ev)

    def mean(self, rows: Sequence[Params]) -> np.ndarray:
        """The noise-free log loss at each configuration."""
        return self._mean(features(self.space, rows))

    def diverges(self, rows: Sequence[Params]) -> np.ndarray:
        """P(training diverges) at each configuration."""
        return self._diverges(features(self.space, rows))

    def _mean(self, x: np.ndarray) -> np.ndarray:
        return _forest(self.regressor, x)[:, 0]

    def _diverges(self, x: np.ndarray) -> np.ndarray:
        if self.classifier is None:
            return np.zeros(len(x))
        proba = _forest(self.classifier, x)
        proba /= proba.sum(axis=1, keepdims=True)
        return np.asarray(1.0 - proba[:, list(self.classifier.classes_).index(True)])

    def train(self, params: Params, rng: np.random.Generator) -> tuple[float | None, float]:
        """One noisy "training": (observed loss or None when diverged, its true mean)."""
        x = features(self.space, [params])
        log_mean = float(self._mean(x)[0])
        if rng.random() < float(self._diverges(x)[0]):
            return None, math.exp(log_mean)
        return math.exp(log_mean + rng.normal(0.0, self.noise)), math.exp(log_mean)


def _forest(forest: Any, x: np.ndarray) -> np.ndarray:
    """The forest's mean leaf value per row, tree by tree: sklearn's own ``predict`` costs
    ~10 ms a call in thread set-up, which one-row calls cannot amortise."""
    x32 = np.asarray(x, dtype=np.float32)
    leaves = [tree.tree_.predict(x32).reshape(len(x), -1) for tree in forest.estimators_]
    return np.asarray(np.mean(leaves, axis=0))


def _seed_spread(ev: Evaluations) -> float:
    """Pooled within-configuration SD of the log loss over the repeated configurations."""
    groups: dict[int, list[float]] = {}
    for config, value in zip(ev.config, ev.values, strict=True):
        if value is not None:
            groups.setdefault(int(config), []).append(math.log(value))
    spreads = [np.var(g, ddof=1) for g in groups.values() if len(g) > 1]
    return float(np.sqrt(np.mean(spreads))) if spreads else 0.0


@cache
def surrogate(name: str) -> Surrogate:
    return Surrogate(name)


def check(names: Sequence[str]) -> None:
    """Each surrogate's fit on a held-out quarter: rank correlation and divergence error."""
    from scipy.stats import spearmanr

    print(f"{'workload':16s} {'dims':>4s} {'evals':>5s} {'diverged':>8s} {'seed sd':>7s} "
          f"{'log-loss range':>14s} {'held-out rho':>12s}")
    for name in names:
        ev = load(name)
        cut = int(0.75 * EVALS)  # rows [0, EVALS) are one seed per configuration
        fit = Evaluations(ev.config[:cut], ev.params[:cut], ev.values[:cut])
        model = Surrogate(name, fit)
        test = [i for i in range(cut, EVALS) if ev.values[i] is not None]
        rho = spearmanr(model.mean([ev.params[i] for i in test]),
                        [math.log(ev.values[i] or 1.0) for i in test]).statistic
        logs = [math.log(v) for v in ev.values if v is not None]
        diverged = sum(v is None for v in ev.values) / len(ev.values)
        print(f"{name:16s} {len(ALL[name].space.nuisance):4d} {len(ev.values):5d} "
              f"{diverged:8.1%} {_seed_spread(ev):7.3f} "
              f"{np.percentile(logs, 5):6.2f}..{np.percentile(logs, 95):5.2f} {rho:12.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("collect", "check"))
    parser.add_argument("--evals", type=int, default=EVALS)
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(ALL)
    if args.action == "check":
        check(names)
        return
    for name in names:
        started = time.perf_counter()
        path = collect(name, args.evals, args.workers)
        print(f"{name}: {path} ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
