"""The batch-size probe (``tunebook batch-size``): training throughput per size (§5.1).

The playbook picks the batch size for training speed, not as a hyperparameter to tune for
quality: the best size is the one that reaches a fixed number of examples soonest, and
beyond the point where throughput stops growing a larger batch buys nothing. Each size
trains ``steps`` steps with everything else held still (:mod:`tunebook.workflows._held`),
one trial at a time (parallel trials would share the machine and spoil the timing); an
out-of-memory size is infeasible, not a crash.

    >>> probe = batch_size_probe(load_spec("study.yaml"), store, sizes=[32, 64, 128])
    >>> probe.result.best.size
"""

from __future__ import annotations

from dataclasses import dataclass

from tunebook._spec_model import ParamModel
from tunebook.analysis.batchsize import ProbeResult, probe_result
from tunebook.errors import SpecError
from tunebook.spec import StudySpec
from tunebook.store import Store
from tunebook.workflows._held import held_still, known
from tunebook.workflows._run import RunOptions, run


def parse_sizes(text: str) -> list[int]:
    """``16,32,64`` → [16, 32, 64], checked."""
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        sizes = []
    if len(sizes) < 2 or sizes[0] < 1:
        raise SpecError(f"--sizes {text!r}: give two or more positive batch sizes, e.g. "
                        "16,32,64,128", field="--sizes")
    return sizes


def probe_spec(spec: StudySpec, sizes: list[int], *, key: str = "batch_size",
               steps: int = 50) -> StudySpec:
    """The probe study: one trial per batch size, ``steps`` steps each."""
    if steps < 5:
        raise SpecError("--steps must be at least 5 (throughput is measured between "
                        "reports)", field="--steps")
    known(spec, key, "--key")
    every = spec.model.eval_every
    if every is None or every > steps // 4:  # at least four reports to time between
        every = max(1, steps // 4)
    return held_still(spec, {key: ParamModel(values=list(sizes))}, suffix="batch-size",
                      points=len(sizes), max_steps=steps,
                      eval_every=every, description=f"throughput of {key} in {sizes} over "
                                                    f"{steps} steps for {spec.name}")


@dataclass(frozen=True)
class BatchSizeProbe:
    """What ``batch_size_probe`` measured: per size steps/s and examples/s, the best size,
    the study it ran, and whether it was interrupted."""

    result: ProbeResult
    study: str
    stopped_by: str | None = None


def batch_size_probe(spec: StudySpec, store: Store, *, sizes: list[int],
                     key: str = "batch_size", steps: int = 50,
                     options: RunOptions | None = None) -> BatchSizeProbe:
    """Run (or resume) the probe, one size at a time."""
    study = probe_spec(spec, sizes, key=key, steps=steps)
    done = run(study, store, options or RunOptions(), workers=1)
    return BatchSizeProbe(probe_result(store, study.name, key), study.name, done.stopped_by)
