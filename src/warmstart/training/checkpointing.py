"""A run's checkpoints: writing one at a step and resuming from the newest intact one, for ``Trainer``.

A checkpoint holds the weights (whole, or under FSDP each process's shards: ``training/sharding.py``), the
trainer's state (optimizer, schedule clock, data position, RNG, best validation) and what the job's
``save`` function adds (config, tokenizer, job). Rank 0 writes; every process takes part in the
collectives. Resuming walks back past damaged checkpoints (checksums), keeps them aside, and loads weights
and state at whatever process count runs now.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from warmstart import checkpoint as ckpt
from warmstart.training import distributed as dist_ops
from warmstart.training import sharding


def save_checkpoint(trainer) -> Path | None:
    """Collective: the trainer's checkpoint at this step (sharded under FSDP), rank 0 writing; older ones pruned."""
    path = trainer.checkpoint_root() / f"step-{trainer.clock.steps:07d}"
    if trainer.save_fn is not None:
        shards = _write_shards(trainer, path) if sharding.is_sharded(trainer.unwrapped) else None  # collective
        if trainer.env.is_main:
            state = trainer.state(optimizer_in_shards=shards is not None)
            meta = {"step": trainer.clock.steps, "tokens_seen": trainer.clock.tokens, "kind": trainer.name,
                    "position": list(trainer.position), "precision": trainer.precision, "device": str(trainer.device),
                    "parallel": trainer.parallel, "processes": trainer.env.world_size}
            with ckpt.shards_from(shards):
                trainer.save_fn(path, meta, state)
            ckpt.prune_checkpoints(trainer.checkpoint_root(), trainer.settings.keep_last)
    dist_ops.barrier(trainer.env)
    return path

def _write_shards(trainer, path: Path) -> Path:
    """Collective: every process writes its shards into a staging folder that the checkpoint takes in whole
    (moved into place by rank 0 with the rest: a kill before that leaves no half checkpoint)."""
    staging = path.with_name(f".{path.name}.shards")
    if trainer.env.is_main:
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
    dist_ops.barrier(trainer.env)
    trainer.shard_groups = sharding.save_shards(trainer.unwrapped, trainer.optimizer, staging)
    dist_ops.barrier(trainer.env)
    return staging

def resume(trainer, folder: Path | None = None) -> Path | None:
    """Continue from ``folder`` or the newest intact checkpoint under the output folder (newer ones that
    fail their checksums are skipped, with a warning that names them and why)."""
    if folder is None:
        folder, skipped = ckpt.newest_intact(trainer.checkpoint_root())
        if folder is None:
            # NOTE: a run killed before its first checkpoint starts over; drop the records it logged.
            trainer.logbook.truncate_after(trainer.clock.steps)
            return None
        if skipped and trainer.env.is_main:
            for bad, why in skipped:
                # renamed out of the step-* sequence, kept for inspection: pruning and later resumes must
                # not count it as the newest checkpoint
                kept = bad.with_name(f"corrupt-{bad.name}")
                if kept.exists():
                    kept = bad.with_name(f"corrupt-{bad.name}-{time.strftime('%Y%m%d-%H%M%S')}")
                bad.rename(kept)
                print(f"warning: skipping {bad.name}: {why}; resuming from {folder.name} instead "
                      f"(the damaged folder is kept as {kept.name})")
    ckpt.read_meta(folder)
    state = ckpt.load_training_state(folder)
    if (folder / ckpt.SHARDS).is_dir():  # written under FSDP, at any process count
        sharding.load_shards(trainer.unwrapped, trainer.optimizer, folder / ckpt.SHARDS, state["optimizer"]["param_groups"])
    else:
        trainer.load_weights(folder)
    trainer.load_state(state)
    return folder
