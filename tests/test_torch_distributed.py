"""Multi-host habits on 2 real processes with the gloo backend (loopback only)."""

from __future__ import annotations

import socket
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tunebook.torch import (
    RankZeroTrial,
    check_batchnorm_sync,
    derive_seeds,
    rank,
    shard,
    sync_batchnorm_stats,
    world_size,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Trial:
    def __init__(self) -> None:
        self.points: list[tuple[int, dict[str, float]]] = []
        self.warned: list[str] = []

    def report(self, step: int, **metrics: float) -> None:
        self.points.append((step, metrics))

    def warn(self, message: str) -> None:
        self.warned.append(message)

    def flush(self) -> None: ...


def _worker(r: int, port: int, out: Any) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=r,
                            world_size=2)
    try:
        inner = _Trial()
        trial = RankZeroTrial(inner)  # type: ignore[arg-type]
        trial.report(1, loss=float(r))
        trial.warn(f"from rank {r}")
        seeds = derive_seeds(1234, rank=rank())
        model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
        model.train()
        model(torch.randn(16, 3) + 10 * r)  # each rank sees different data
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            before = check_batchnorm_sync(model)
        sync_batchnorm_stats(model)
        after = check_batchnorm_sync(model)
        bn = model[1]
        out.put({"rank": rank(), "world": world_size(), "points": inner.points,
                 "warned": inner.warned, "init": seeds.init, "data": seeds.data,
                 "shard": shard(list(range(11))), "before": before, "after": after,
                 "warning": [str(w.message) for w in caught],
                 "mean": bn.running_mean.tolist()})
    finally:
        dist.destroy_process_group()


def test_two_ranks_over_gloo(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, port, out)) for r in range(2)]
    for p in procs:
        p.start()
    results = sorted((out.get(timeout=120) for _ in procs), key=lambda r: r["rank"])
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    zero, one = results
    assert zero["world"] == one["world"] == 2
    assert zero["points"] == [(1, {"loss": 0.0})] and one["points"] == []  # rank 0 only
    assert zero["warned"] == ["from rank 0"] and one["warned"] == []
    assert zero["init"] == one["init"] and zero["data"] != one["data"]
    assert sorted(zero["shard"] + one["shard"]) == list(range(11))
    assert not set(zero["shard"]) & set(one["shard"])
    assert not zero["before"] and "differ across ranks" in zero["warning"][0]
    assert zero["after"] and one["after"] and zero["mean"] == one["mean"]


def test_single_process_defaults() -> None:
    assert (rank(), world_size()) == (0, 1)
    assert shard(list(range(5))) == list(range(5))
    assert derive_seeds(7).init == derive_seeds(7, rank=3).init
