"""Which nuisance parameters move the objective, with how sure that is (§2.4, §3).

A random forest (scikit-learn) is fitted to the completed trials, each parameter mapped to
the unit interval the sampler uses (log-scaled for log ranges); a parameter's importance
is the permutation importance on held-out trials: how much the forest's R² drops when that
column is shuffled. Refitting on bootstrap resamples gives the spread. Needs
``scikit-learn`` (the ``examples`` extra); without it the report says how to get it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tunebook.analysis.data import StudyData

MIN_TRIALS = 12
MAX_TRIALS = 2000      # a sample of the best and the rest beyond this
RESAMPLES = 8


@dataclass(frozen=True)
class Importance:
    """One parameter's importance: the median drop in held-out R² and its 10-90 % range."""

    key: str
    median: float
    low: float
    high: float


@dataclass(frozen=True)
class Importances:
    rows: list[Importance]
    note: str = ""


#: What a report built without its importances says in their place (the dashboard
#: computes them beside the request and fills the section in when they are ready).
PENDING = Importances([], "Computing the parameter importance (a random forest refitted "
                          f"{RESAMPLES} times): this section fills in by itself.")


def _matrix(data: StudyData) -> tuple[np.ndarray, np.ndarray, list[str]]:
    dims = [d for d in (*data.spec.space.nuisance, *data.spec.space.scientific)
            if d.condition is None]
    done = data.completed()
    if len(done) > MAX_TRIALS:
        step = math.ceil(len(done) / MAX_TRIALS)
        done = done[:200] + done[200::step]
    x = np.array([[float(d.domain.to_unit(t.params[d.key])) if d.key in t.params else 0.5
                   for d in dims] for t in done])
    y = np.array([float(t.value or 0.0) for t in done])
    return x, y, [d.key for d in dims]


def importances(data: StudyData, seed: int = 0) -> Importances:
    """Permutation importances of the searched parameters (empty with a note when they
    cannot be computed)."""
    try:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.inspection import permutation_importance
        from sklearn.model_selection import train_test_split
    except ImportError:
        return Importances([], "Install scikit-learn to see which parameters matter: "
                               'pip install "tunebook[examples]".')
    x, y, keys = _matrix(data)
    if len(y) < MIN_TRIALS or not keys or float(np.std(y)) == 0.0:
        return Importances([], f"Importance needs at least {MIN_TRIALS} completed trials "
                               "with different results.")
    rng = np.random.default_rng(seed)
    draws: list[np.ndarray] = []
    for r in range(RESAMPLES):
        pick = rng.integers(0, len(y), len(y))
        x_fit, x_test, y_fit, y_test = train_test_split(x[pick], y[pick], test_size=0.3,
                                                        random_state=r)
        forest = RandomForestRegressor(n_estimators=64, min_samples_leaf=2, random_state=r,
                                       n_jobs=1).fit(x_fit, y_fit)
        result = permutation_importance(forest, x_test, y_test, n_repeats=5, random_state=r,
                                        n_jobs=1)
        draws.append(np.asarray(result.importances_mean))
    stack = np.vstack(draws)
    rows = [Importance(key, float(np.median(stack[:, i])), float(np.percentile(stack[:, i], 10)),
                       float(np.percentile(stack[:, i], 90))) for i, key in enumerate(keys)]
    return Importances(sorted(rows, key=lambda r: -r.median))
