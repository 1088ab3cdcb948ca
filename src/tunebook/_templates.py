"""The starter files ``tunebook init`` writes: a commented study file and a train script."""

_STUDY_YAML = """\
# A tunebook study: one question, answered with a fair comparison.
# Reference for every field: `tunebook spec`
name: my-study                 # letters, digits, - _ . ; names the study on the CLI
description: Does the scientific choice below beat the baseline?

objective:
  metric: val_loss             # a name your code reports with t.report(step, val_loss=...)
  goal: minimize               # or maximize
  select: best                 # best evaluation of the run (retrospective), or last

trainer:
  train: train:main            # module:function, next to this file
  # command: "python train.py --lr {learning_rate}"   # or a shell command template

fixed:                         # held constant for this study
  batch_size: 64

scientific:                    # what you want to learn about: a list of values to compare
  activation: [relu, tanh]

NUISANCE_BLOCK

# conditional:                 # nuisance that exists only for some scientific values
#   optimizer:                 # (needs `optimizer` under scientific)
#     adam: {beta1: {low: 0.8, high: 0.99}}

budget: BUDGET                     # trials in total; every scientific value gets its share
sampler: {type: quasi_random, seed: 0}   # quasi_random (default) | random | grid
mode: joint                    # joint: search all together | per_value: one sub-study each
max_steps: 500                 # reaches your code as t.max_steps
eval_every: 50                 # evaluate every N steps (never by wall time): t.eval_every
"""

TRAIN_PY = '''\
"""Starter training function for tunebook: replace the toy problem with your model."""

import math
import random

import tunebook


def main(t: tunebook.TrialContext) -> None:
    hp = t.params                     # fixed + scientific + nuisance, by plain name
    rng = random.Random(t.seed)       # derive every random choice from the trial seed
    lr = float(hp["learning_rate"])
    decay = float(hp.get("weight_decay", 1e-4))
    loss = 1.0
    for step in range(1, (t.max_steps or 500) + 1):
        loss *= 1.0 - min(lr * 10, 0.5) * rng.uniform(0.5, 1.0)
        if lr > 0.05 and step > 100:
            raise tunebook.Infeasible(f"learning rate {lr:.3g} diverges")  # recorded, not a crash
        if step % (t.eval_every or 50) == 0:
            t.report(step, val_loss=loss + 0.01 * math.log1p(decay * 1e4))


if __name__ == "__main__":           # python train.py: try it by hand, metrics printed
    main(tunebook.trial(defaults={"batch_size": 64, "activation": "relu",
                                  "learning_rate": 1e-3, "weight_decay": 1e-4}))
'''


DEFAULT_NUISANCE = """\
nuisance:                      # must be tuned away for a fair comparison
  learning_rate: {low: 1.0e-4, high: 1.0e-1, scale: log}
  weight_decay: {low: 1.0e-6, high: 1.0e-2, scale: log}"""

WHY = {
    "learning_rate": "always tuned: the most important hyperparameter",
    "beta1": "tuned from 10 trials on (playbook's Adam budget rule, §5.4)",
    "epsilon": "tuned from 26 trials on (Adam budget rule)",
    "beta2": "tuned with over 50 trials (Adam budget rule)",
    "weight_decay": "AdamW's decoupled weight decay",
    "momentum": "tuned with the learning rate for momentum optimizers",
}


def _flow(spec: dict[str, object]) -> str:
    parts = []
    for key, value in spec.items():
        parts.append(f"{key}: {value:.1e}" if isinstance(value, float) and (
            value < 1e-2 or value >= 1e3) else f"{key}: {value}")
    return "{" + ", ".join(parts) + "}"


def nuisance_block(optimizer: str, budget: int) -> str:
    """The nuisance section for ``optimizer`` at ``budget`` trials, each line saying why."""
    from tunebook.spaces import ADAM_RULE, default_space

    table = default_space(optimizer, budget)
    lines = [f"nuisance:                      # {optimizer} with a budget of {budget} trials"]
    for name, spec in table.items():
        lines.append(f"  {name}: {_flow(spec)}   # {WHY.get(name, '')}".rstrip())
    skipped = [n for threshold, n in ADAM_RULE if n not in table]
    if optimizer.lower() in ("adam", "adamw", "nadam") and skipped:
        lines.append(f"  # not tuned at this budget (Adam budget rule, §5.4), left at the "
                     f"optimizer's default: {', '.join(skipped)}")
    return "\n".join(lines)


def study_yaml(optimizer: str | None = None, budget: int = 20) -> str:
    """The starter study file; with ``optimizer``, its nuisance space follows the playbook's
    defaults for it at ``budget`` trials, the reasoning in comments."""
    block = DEFAULT_NUISANCE if optimizer is None else nuisance_block(optimizer, budget)
    text = _STUDY_YAML.replace("NUISANCE_BLOCK", block).replace("BUDGET", str(budget))
    if optimizer is not None:
        text = text.replace("fixed:                         # held constant for this study\n",
                            "fixed:                         # held constant for this study\n"
                            f"  optimizer: {optimizer.lower()}\n")
    return text


STUDY_YAML = study_yaml()
