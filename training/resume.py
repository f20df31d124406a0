"""What ``train --resume`` may change: the options that define a run must match the checkpoint's.

``run_changes(saved, new)`` lists the differences in the options that change what is trained (data, target,
architecture, batch size, learning rate and its schedule, augmentation, seed); how long, how often to validate
or checkpoint, the device and the loader threads may change freely. The data is compared by the shard
manifest's ``build_key`` (the same shards moved to another folder are the same data), else by the folder.
"""

from __future__ import annotations

import os

from training.config import TrainConfig

#: TrainConfig settings whose change makes a resumed run another run.
RUN_DEFINING = ("target", "arch", "batch_size", "lr", "lr_schedule", "warmup_steps", "remix_share", "gain_db",
                "seed")


def _norm(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def run_changes(saved: dict, new: dict, saved_data_key: str | None = None, new_data_key: str | None = None) -> list[str]:
    """Human-readable differences ``"--lr: 0.0001 -> 0.01"`` between a checkpoint's ``train_config`` and the
    new one (both ``TrainConfig.to_dict()``); options the checkpoint predates count as their defaults."""
    defaults = TrainConfig(shards_dir="", run_dir="").to_dict()
    changes = []
    if saved_data_key and new_data_key:
        if saved_data_key != new_data_key:
            changes.append(f"--shards: {saved.get('shards_dir')} (build {saved_data_key[:12]}) -> "
                           f"{new.get('shards_dir')} (build {new_data_key[:12]})")
    elif os.path.abspath(str(saved.get("shards_dir", ""))) != os.path.abspath(str(new.get("shards_dir", ""))):
        changes.append(f"--shards: {saved.get('shards_dir')} -> {new.get('shards_dir')}")
    for name in RUN_DEFINING:
        old = _norm(saved.get(name, defaults[name]))
        cur = _norm(new.get(name, defaults[name]))
        if old != cur:
            changes.append(f"--{name.replace('_', '-')}: {old} -> {cur}")
    return changes
