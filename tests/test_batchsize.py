"""tunebook batch-size: throughput per size, saturation, out of memory as infeasible."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import tunebook_cli, write_study
from tunebook import SpecError, load_spec, open_store
from tunebook.analysis.batchsize import probe_result
from tunebook.workflows.batchsize import parse_sizes, probe_spec

# A step costs 2 ms + 0.1 ms per example: examples/s grows, then flattens (the gain per
# doubling falls under 10 % by 256); from 512 on, the model does not fit in memory.
TIMED = """
    import time
    import tunebook

    def main(t):
        size = int(t.params["batch_size"])
        if size >= 512:
            raise MemoryError("CUDA out of memory (simulated)")
        for step in range(1, (t.max_steps or 20) + 1):
            time.sleep(0.002 + 0.0001 * size)
            t.report(step, loss=1.0 / step)
"""


def _study(tmp_path: Path) -> Path:
    return write_study(tmp_path / "s", TIMED, name="probe", budget=8, max_steps=100,
                       fixed={"batch_size": 32},
                       nuisance={"lr": {"low": 1e-4, "high": 1.0, "scale": "log"}})


def test_the_probe_measures_scaling_and_calls_oom_infeasible(tmp_path: Path,
                                                             db_path: str) -> None:
    out = tunebook_cli("batch-size", str(_study(tmp_path)), "--sizes", "16,64,256,512",
                       "--steps", "25", "--db", db_path, "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    probe = probe_result(open_store(db_path), "probe-batch-size", "batch_size")
    by_size = {p.size: p for p in probe.points}
    assert by_size[512].status == "infeasible" and "out of memory" in by_size[512].reason
    rates = [by_size[s].examples_per_s or 0.0 for s in (16, 64, 256)]
    assert rates == sorted(rates)  # more examples per second with larger batches ...
    truth = {s: s / (0.002 + 0.0001 * s) for s in (16, 64, 256)}
    for s in (16, 64, 256):  # ... measured within 35 % of the truth (sleep overshoots)
        assert 0.65 * truth[s] < (by_size[s].examples_per_s or 0.0) <= 1.05 * truth[s]
    assert probe.best is not None and probe.best.size == 256
    text = " ".join(out.stdout.split())
    assert "batch_size = 256 reaches a fixed number of examples soonest" in text
    assert "Out of memory (infeasible) from 512" in text and "re-tune them" in text


def test_saturation_is_judged_per_doubling() -> None:
    from tunebook.analysis.batchsize import ProbePoint, _judge

    def point(size: int, rate: float) -> ProbePoint:
        return ProbePoint(size, "completed", "", rate / size, rate)

    # 4x the batch for 1.15x the examples/s: 1.07 per doubling, so it stopped scaling.
    flat = _judge("batch_size", [point(16, 1000.0), point(64, 1900.0), point(256, 2185.0)])
    assert flat.saturates_at == 256 and "stops scaling at 256" in flat.statement
    steep = _judge("batch_size", [point(16, 1000.0), point(32, 1900.0), point(64, 3500.0)])
    assert steep.saturates_at is None and steep.best is not None and steep.best.size == 64


def test_the_probe_spec_and_bad_sizes(tmp_path: Path) -> None:
    spec = probe_spec(load_spec(_study(tmp_path)), [16, 32], steps=10)
    assert spec.name == "probe-batch-size" and spec.model.max_steps == 10
    # A study evaluating every 50 steps still gets reports to time a 40-step probe by.
    sparse = load_spec(write_study(tmp_path / "sparse", TIMED, name="sparse", max_steps=300,
                                   eval_every=50, fixed={"batch_size": 32}))
    assert probe_spec(sparse, [16, 32], steps=40).model.eval_every == 10
    assert [d.key for d in spec.space.nuisance] == ["batch_size"]
    assert spec.space.fixed["lr"] == pytest.approx(0.01)
    for bad in ("16", "a,b", "0,16", ""):
        with pytest.raises(SpecError, match="--sizes"):
            parse_sizes(bad)
