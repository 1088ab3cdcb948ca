"""The PyTorch toolkit: the playbook's habits for the training loop itself.

Importing ``tunebook`` never imports torch; importing ``tunebook.torch`` does.
"""

from tunebook.torch.checkpoint import Checkpointer, CheckpointInfo, CheckpointMismatch
from tunebook.torch.data import InputTimer, Prefetcher, ShuffledBatches
from tunebook.torch.distributed import (
    RankZeroTrial,
    batchnorm_spread,
    check_batchnorm_sync,
    is_rank0,
    rank,
    shard,
    sync_batchnorm_stats,
    world_size,
)
from tunebook.torch.evaluation import (
    EvalEvery,
    SubsetCheck,
    check_eval_batch,
    correct_per_class,
    eval_subset,
    subset_tracks,
)
from tunebook.torch.monitor import DeviceSeries, DivergenceGuard, GradNorm
from tunebook.torch.optim import OptimizerConfigError, make_optimizer, optimizer_hparams
from tunebook.torch.schedules import (
    Schedule,
    ScheduleError,
    lr_factor,
    make_schedule,
    round2_transfer,
    schedule_for,
)
from tunebook.torch.seeds import Seeds, capture_rng, derive_seeds, restore_rng, seed_everything
from tunebook.torch.step import StepMonitor

__all__ = [
    "CheckpointInfo",
    "CheckpointMismatch",
    "Checkpointer",
    "DeviceSeries",
    "DivergenceGuard",
    "EvalEvery",
    "GradNorm",
    "InputTimer",
    "OptimizerConfigError",
    "Prefetcher",
    "RankZeroTrial",
    "Schedule",
    "ScheduleError",
    "Seeds",
    "ShuffledBatches",
    "StepMonitor",
    "SubsetCheck",
    "batchnorm_spread",
    "capture_rng",
    "check_batchnorm_sync",
    "check_eval_batch",
    "correct_per_class",
    "derive_seeds",
    "eval_subset",
    "is_rank0",
    "lr_factor",
    "make_optimizer",
    "make_schedule",
    "optimizer_hparams",
    "rank",
    "restore_rng",
    "round2_transfer",
    "schedule_for",
    "seed_everything",
    "shard",
    "subset_tracks",
    "sync_batchnorm_stats",
    "world_size",
]
