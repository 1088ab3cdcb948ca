"""The starter files ``tunebook init`` writes: a commented study file and a train script."""

STUDY_YAML = """\
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

nuisance:                      # must be tuned away for a fair comparison
  learning_rate: {low: 1.0e-4, high: 1.0e-1, scale: log}
  weight_decay: {low: 1.0e-6, high: 1.0e-2, scale: log}

# conditional:                 # nuisance that exists only for some scientific values
#   optimizer:                 # (needs `optimizer` under scientific)
#     adam: {beta1: {low: 0.8, high: 0.99}}

budget: 20                     # trials in total; every scientific value gets its share
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
    loss = 1.0
    for step in range(1, (t.max_steps or 500) + 1):
        loss *= 1.0 - min(lr * 10, 0.5) * rng.uniform(0.5, 1.0)
        if lr > 0.05 and step > 100:
            raise tunebook.Infeasible(f"learning rate {lr:.3g} diverges")  # recorded, not a crash
        if step % (t.eval_every or 50) == 0:
            t.report(step, val_loss=loss + 0.01 * math.log1p(float(hp["weight_decay"]) * 1e4))


if __name__ == "__main__":           # python train.py: try it by hand, metrics printed
    main(tunebook.trial(defaults={"batch_size": 64, "activation": "relu",
                                  "learning_rate": 1e-3, "weight_decay": 1e-4}))
'''
