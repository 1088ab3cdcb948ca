"""Round 2: the best round-1 configurations trained longer (playbook §3.1, §3.1.2).

Round 1 tunes on short runs; round 2 trains a few of its best configurations for longer
to get the final model, and checks that what round 1 concluded still holds. The hard
part is the learning-rate schedule: a schedule defined over ``max_steps`` does not carry
over to more steps unchanged. The playbook's rule, applied here to each configuration:

- linear decay keeps the length of its decay (in steps) and extends the constant phase
  before it: the trial gets an explicit ``decay_steps`` parameter;
- cosine (and constant) keeps the base learning rate and stretches over the new
  ``max_steps``: nothing but ``max_steps`` changes;
- warmup is unchanged: it tames early instability, which does not depend on length.

The trainer reads ``decay_steps`` when it is given (``tunebook.torch.schedule_for`` does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tunebook._spec_derive import Derivation
from tunebook.analysis.data import load_study
from tunebook.analysis.rounds import Rounds, compare_rounds
from tunebook.errors import SpecError
from tunebook.records import StudyRecord, trial_seed
from tunebook.runner.local import RunResult
from tunebook.space import Params
from tunebook.spec import StudySpec, study_spec
from tunebook.store import Store, tally
from tunebook.workflows._rerun import best_configs, create_child
from tunebook.workflows._run import RunOptions, run

#: Keeps round-2 seeds apart from round 1's and from the seed re-runs'.
ROUND2_SALT = 0x2D2


@dataclass(frozen=True)
class Round2:
    """The child study, its spec, the lengths, and each configuration as it will train."""

    study: StudyRecord
    spec: StudySpec
    max_steps: int
    round1_steps: int
    configs: list[Params]


def transfer(config: Params, fixed: Mapping[str, Any], round1_steps: int, *,
             schedule_key: str = "schedule", warmup_key: str = "warmup_steps") -> Params:
    """One configuration's params for round 2: ``decay_steps`` added for a linear decay.

    The decay length is the one round 1 trained with: an explicit ``decay_steps`` if the
    configuration had one, else every step after warmup.
    """
    kind = config.get(schedule_key, fixed.get(schedule_key))
    if kind != "linear" or "decay_steps" in config:
        return dict(config)
    warmup = int(config.get(warmup_key, fixed.get(warmup_key, 0)) or 0)
    return {**config, "decay_steps": round1_steps - warmup}


def round2_study(store: Store, name: str, *, steps_factor: float, top: int = 1,
                 child: str | None = None, schedule_key: str = "schedule",
                 warmup_key: str = "warmup_steps") -> Round2:
    """Create (or find) the round-2 child of ``name``: its ``top`` best configurations per
    scientific value, trained ``steps_factor`` times longer under the transfer rule.

    Raises:
        SpecError: a factor ≤ 1, a round 1 without ``max_steps``, one still running, or
            one with no completed trial.
    """
    if not math.isfinite(steps_factor) or steps_factor <= 1.0 or top < 1:
        raise SpecError(f"--steps-factor must be above 1 (round 2 trains longer), got "
                        f"{steps_factor}; --top at least 1", field="round2")
    parent = store.get_study(name)
    spec = study_spec(parent)
    round1 = spec.model.max_steps
    if round1 is None:
        raise SpecError(f"study {name!r} has no max_steps: round 2 lengthens training by a "
                        "factor of it; set max_steps in the study file (and read "
                        "t.max_steps in the trainer)", field="max_steps")
    seen = tally(store, store.tree(parent), spec.objective.goal)
    if seen.done < seen.total:  # queued, running, or not yet created under the budget
        raise SpecError(f"study {name!r} is unfinished ({seen.done} of {seen.total} trials "
                        "finished): finish round 1 first (tunebook run …), then start "
                        "round 2", field="round2")
    configs = best_configs(store, spec, [parent], top)
    if not configs:
        raise SpecError(f"study {name!r} has no completed trial to carry into round 2",
                        field="round2")
    steps = round(round1 * steps_factor)
    carried = [transfer(c, spec.space.fixed, round1, schedule_key=schedule_key,
                        warmup_key=warmup_key) for c in configs]
    salt = spec.model.sampler.seed + ROUND2_SALT
    trials = [(i, config, trial_seed(salt, i)) for i, config in enumerate(carried)]
    record, child_spec = create_child(store, parent, trials, Derivation(
        name=child or f"{name}-x{steps_factor:g}", max_steps=steps, pruning=None,
        description=f"round 2 of {name}: its best {top} configuration(s) per scientific "
                    f"value, {round1} → {steps} steps (schedule transfer, §3.1.2)"))
    return Round2(record, child_spec, steps, round1, carried)


@dataclass(frozen=True)
class Round2Result:
    """What ``round2`` did: the child study, its run, and the rounds compared
    configuration by configuration (None until round 2 has finished)."""

    made: Round2
    run: RunResult
    rounds: Rounds | None


def round2(store: Store, name: str, *, steps_factor: float, top: int = 1,
           child: str | None = None, schedule_key: str = "schedule",
           warmup_key: str = "warmup_steps", options: RunOptions | None = None,
           ) -> Round2Result:
    """Create (or find) round 2 of ``name``, run it, and compare the rankings."""
    made = round2_study(store, name, steps_factor=steps_factor, top=top, child=child,
                        schedule_key=schedule_key, warmup_key=warmup_key)
    done = run(made.spec, store, options or RunOptions())
    rounds = (compare_rounds(store, load_study(store, made.study.name))
              if done.stopped_by is None else None)
    return Round2Result(made, done, rounds)
