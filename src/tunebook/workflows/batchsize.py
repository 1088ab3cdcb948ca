"""``tunebook batch-size``: measure training throughput per batch size (§5.1).

The playbook picks the batch size for training speed, not as a hyperparameter to tune for
quality: the best size is the one that reaches a fixed number of examples soonest, and
beyond the point where throughput stops growing a larger batch buys nothing. Each size
trains ``steps`` steps with everything else held still (see ``workflows.lrsweep``); an
out-of-memory size is infeasible, not a crash.
"""

from __future__ import annotations

from tunebook.errors import SpecError
from tunebook.spec import StudySpec
from tunebook.workflows.lrsweep import derived, held, known, shortened


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
    doc, fixed = held(spec, {key: None}, keep=())
    known(doc, key, spec, "--key")
    every = doc.get("eval_every")
    if every is None or every > steps // 4:  # at least four reports to time between
        every = max(1, steps // 4)
    doc = shortened(doc, steps, every)
    return derived(spec, doc, "batch-size", f"throughput of {key} in {sizes} over {steps} "
                   f"steps for {spec.name}", fixed, {key: [*sizes]}, len(sizes))
