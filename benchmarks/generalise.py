"""Does ``bayes`` win on workloads it was not tuned on? (issue 23)

Ten small real trainings (``_workloads.py`` and ``_workloads_wide.py``) split in two:
every default of ``bayes`` is chosen on the **tuning** half; the **held-out** half is only
reported. Two tiers:

* ``surrogate`` (default): each workload replaced by its fitted surrogate
  (``benchmarks/surrogates.py``: extra trees on a few hundred real evaluations, a
  divergence classifier, the measured seed noise), so 50+ seeds per sampler run in
  minutes. Regret is read on the surrogate's noise-free mean of the configuration a user
  would pick (the best observed value so far): what the pick is worth, not its luck.
* ``real``: the trainings themselves, fewer seeds, to confirm; regret of the best observed.

Regret is normalised per workload on a fixed pool of random configurations (0 = the pool's
best, 1 = its median). Printed: mean regret per sampler at each budget for both halves
(and, beside it, the regret of the best configuration tried at all: the search without
the pick's luck; and the regret after ``rerun --top 3 --seeds 3``, the product's procedure
for a noisy pick),
the ratio bayes / TPE, paired differences bayes − peer with their standard errors (pooled
and per held-out workload), and the diverged share of trials.

Usage: ``python -m benchmarks.generalise [--tier surrogate|real] [--seeds 50]
[--trials 40] [--half held-out|tuning|both] [--samplers tb-bayes,optuna-tpe,...]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from benchmarks.samplers import ask_tell, random_trainings
from benchmarks.surrogates import ALL, Surrogate, one_thread, surrogate
from tunebook.samplers import RandomSampler
from tunebook.space import Params

TUNING = ("digits-mlp", "diabetes-mlp", "wine-mlp", "digits-cnn", "wine-opt", "digits-norm")
HELD_OUT = ("digits-opt", "diabetes-deep", "cancer-linear", "charlm")
SAMPLERS = ("tb-bayes", "optuna-tpe", "optuna-random", "tb-quasi_random")
BUDGETS = (10, 20, 40)
POOL = 4096
REAL_POOL = 128
#: The product's answer to a noisy pick (``tunebook rerun --top 3 --seeds 3``): the three
#: best distinct configurations trained again with three new seeds, the best mean chosen.
RERUN_TOP, RERUN_SEEDS = 3, 3


@dataclass(frozen=True)
class Run:
    """One sampler's run: per trial, the observed value (None: diverged) and the value
    the benchmark scores (the true mean on the surrogate tier, the observation on real)."""

    workload: str
    sampler: str
    seed: int
    observed: list[float | None]
    scored: list[float | None]
    params: list[Params]
    #: budget → the true mean of the configuration chosen after re-runs (surrogate tier)
    rerun: dict[int, float] = field(default_factory=dict)


def _variant(name: str) -> str:
    """``tb-bayes+key=value+...``: set bayes's module defaults for this process (how the
    defaults were chosen on the tuning half); returns the plain sampler name."""
    import tunebook.samplers._gp as gp
    import tunebook.samplers.bayes as bayes

    for (module, key), value in _DEFAULTS.items():  # a pool process runs many tasks
        setattr(module, key, value)
    base, *changes = name.split("+")
    for change in changes:
        key, _, value = change.partition("=")
        module = gp if hasattr(gp, key) else bayes
        if not hasattr(module, key):
            raise SystemExit(f"unknown bayes setting {key!r} in {name!r}")
        _DEFAULTS.setdefault((module, key), getattr(module, key))
        setattr(module, key, type(getattr(module, key))(value))
    return base


_DEFAULTS: dict[tuple[object, str], object] = {}


def _one(task: tuple[str, str, int, int, str]) -> Run:
    workload, sampler, seed, trials, tier = task
    scored: list[float | None] = []
    tried: list[Params] = []
    if tier == "real":
        def evaluate(params: dict) -> float | None:
            tried.append(params)
            value = ALL[workload].train(params, seed)
            scored.append(value)
            return value
    else:
        model, rng = surrogate(workload), np.random.default_rng([seed, 23])

        def evaluate(params: dict) -> float | None:
            tried.append(params)
            observed, mean = model.train(params, rng)
            scored.append(mean if observed is not None else None)
            return observed
    observed, _ = ask_tell(_variant(sampler), ALL[workload].space, evaluate, seed, trials)
    run = Run(workload, sampler, seed, observed, scored, tried)
    if tier == "surrogate":
        budgets = [b for b in BUDGETS if b <= trials]
        run.rerun.update({b: _rerun_pick(run, b, surrogate(workload), seed) for b in budgets})
    return run


def _rerun_pick(run: Run, budget: int, model: Surrogate, seed: int) -> float:
    """True mean of the best of the top ``RERUN_TOP`` distinct configurations by their
    mean over ``RERUN_SEEDS`` fresh seeds (a diverged re-run counts as infinitely bad)."""
    ranked = sorted((o, i) for i, o in enumerate(run.observed[:budget]) if o is not None)
    top: list[Params] = []
    for _, i in ranked:
        if run.params[i] not in top:
            top.append(run.params[i])
        if len(top) == RERUN_TOP:
            break
    rng = np.random.default_rng([seed, 0x5EED, budget])
    best: tuple[float, float] | None = None
    for params in top:
        draws = [model.train(params, rng) for _ in range(RERUN_SEEDS)]
        mean = float(np.mean([o if o is not None else np.inf for o, _ in draws]))
        if best is None or mean < best[0]:
            best = (mean, draws[0][1])
    return best[1] if best is not None else float("nan")


def pool(task: tuple[str, str]) -> tuple[float, float]:
    """(best, median) of the workload's reference pool of random configurations."""
    workload, tier = task
    space = ALL[workload].space
    if tier == "real":
        values = random_trainings(ALL[workload], REAL_POOL)
    else:
        model = surrogate(workload)
        rows = RandomSampler(seed=12345).params_at(space, [], range(POOL))
        keep = model.diverges(rows) < 0.5
        values = list(np.exp(model.mean(rows))[keep])
    return float(min(values)), float(statistics.median(values))


def regret(run: Run, budget: int, ref: tuple[float, float], how: str = "pick") -> float:
    """Scored value of the configuration chosen among the first ``budget`` trials,
    normalised (0 = the pool's best, 1 = its median).

    ``how``: ``pick``, the best observed trial (what a user picks from one run of each);
    ``tried``, the best *scored* trial: the best configuration the sampler tried at all, which
    on the surrogate tier separates the search (did it try a good configuration?) from the
    pick (did the noise let it be recognised?); ``rerun``, the choice after re-running the
    top configurations over seeds (surrogate tier, see ``RERUN_TOP``).
    """
    best, median = ref
    if how == "rerun":
        found = run.rerun.get(budget, float("nan"))
        return 1.0 if np.isnan(found) else (found - best) / (median - best)
    seen = [(s, s) if how == "tried" else (o, s)
            for o, s in zip(run.observed[:budget], run.scored[:budget], strict=True)
            if o is not None and s is not None]
    found = min(seen)[1] if seen else median
    return (found - best) / (median - best)


def _paired(runs: list[Run], refs: dict[str, tuple[float, float]], a: str, b: str,
            budget: int, workloads: Sequence[str], how: str = "pick") -> np.ndarray:
    """regret(a) − regret(b) per (workload, seed) where both ran."""
    by = {(r.workload, r.sampler, r.seed): r for r in runs}
    return np.array([regret(by[w, a, s], budget, refs[w], how)
                     - regret(by[w, b, s], budget, refs[w], how)
                     for (w, smp, s) in by if smp == a and w in workloads
                     and (w, b, s) in by])


def _mean_se(d: np.ndarray) -> str:
    return f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f}" if len(d) > 1 else "-"


def report(runs: list[Run], refs: dict[str, tuple[float, float]], trials: int,
           tier: str = "surrogate") -> None:
    samplers = list(dict.fromkeys(r.sampler for r in runs))
    budgets = [b for b in BUDGETS if b <= trials]
    # on the real tier the scored value is the observation: "best tried" would repeat it
    show_tried = tier == "surrogate"
    for half, names in (("tuning", TUNING), ("held-out", HELD_OUT)):
        mine = [r for r in runs if r.workload in names]
        if not mine:
            continue
        print(f"\n{half} half ({', '.join(n for n in names if n in refs)}):")
        print(f"  {'sampler':18s}" + "".join(f"  regret@{b:<3d}" for b in budgets)
              + "  diverged" + (f"  best tried@{budgets[-1]}" if show_tried else "")
              + "".join(f"  rerun@{b:<3d}" for b in budgets[1:] if show_tried))
        for s in samplers:
            rs = [r for r in mine if r.sampler == s]
            cells = [np.mean([regret(r, b, refs[r.workload]) for r in rs]) for b in budgets]
            div = np.mean([sum(v is None for v in r.observed) / len(r.observed) for r in rs])
            tried = ""
            if show_tried:
                best_tried = [regret(r, budgets[-1], refs[r.workload], "tried") for r in rs]
                tried = f"  {np.mean(best_tried):13.3f}" + "".join(
                    f"  {np.mean([regret(r, b, refs[r.workload], 'rerun') for r in rs]):8.3f}"
                    for b in budgets[1:])
            print(f"  {s:18s}" + "".join(f"  {c:10.3f}" for c in cells) + f"  {div:8.1%}"
                  + tried)
        for me in (s for s in samplers if s.startswith("tb-bayes")):
            peers = [s for s in samplers if s != me]
            _compare(runs, refs, me, peers, budgets, names)
            if show_tried:
                _compare(runs, refs, me, peers, budgets, names, "rerun")


def _compare(runs: list[Run], refs: dict[str, tuple[float, float]], me: str,
             peers: list[str], budgets: list[int], names: Sequence[str],
             how: str = "pick") -> None:
    """Paired differences of ``me`` against each peer, pooled and per workload."""
    mine = [r for r in runs if r.workload in names]
    label = "" if how == "pick" else f" [{how}]"
    for peer in peers:
        for b in budgets[1:]:
            d = _paired(runs, refs, me, peer, b, names, how)
            ratio = (np.mean([regret(r, b, refs[r.workload], how) for r in mine
                              if r.sampler == me])
                     / np.mean([regret(r, b, refs[r.workload], how) for r in mine
                                if r.sampler == peer]))
            print(f"  {me} − {peer} at {b}{label}: {_mean_se(d)} (ratio {ratio:.3f}, "
                  f"{len(d)} pairs)")
    print(f"  per workload, {me} − peer at {budgets[-1]} trials{label} (mean ± SE):")
    for w in (n for n in names if n in refs):
        cells = [f"{peer} {_mean_se(_paired(runs, refs, me, peer, budgets[-1], [w], how))}"
                 for peer in peers if not peer.startswith("tb-bayes")]
        print(f"    {w:16s} " + "; ".join(cells))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=("surrogate", "real"), default="surrogate")
    parser.add_argument("--seeds", type=int, default=None, help="50 surrogate, 5 real")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--half", choices=("held-out", "tuning", "both"), default="both")
    parser.add_argument("--samplers", default=",".join(SAMPLERS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--save", default="", help="pickle the runs here for analysis "
                        "(plain dicts, so loading needs no import of this module)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (50 if args.tier == "surrogate" else 5)
    names = {"held-out": HELD_OUT, "tuning": TUNING, "both": TUNING + HELD_OUT}[args.half]
    samplers = [s for s in args.samplers.split(",") if s]
    tasks = [(w, s, seed, args.trials, args.tier) for w in names for seed in range(seeds)
             for s in samplers]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers, initializer=one_thread) as ex:
        refs = dict(zip(names, ex.map(pool, [(w, args.tier) for w in names]), strict=True))
        runs = []
        for i, run in enumerate(ex.map(_one, tasks, chunksize=4), 1):
            runs.append(run)
            if i % max(1, len(tasks) // 10) == 0:
                print(f"  {i}/{len(tasks)} runs ({time.perf_counter() - started:.0f} s)",
                      flush=True)
    print(f"{args.tier} tier: {len(names)} workloads x {seeds} seeds x {args.trials} trials "
          f"({time.perf_counter() - started:.0f} s)")
    report(runs, refs, args.trials, args.tier)
    if args.save:
        import pickle

        with open(args.save, "wb") as f:
            pickle.dump({"runs": [asdict(r) for r in runs], "refs": refs}, f)


if __name__ == "__main__":
    main()
