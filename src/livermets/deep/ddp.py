"""Multi-process training with DistributedDataParallel (torchrun; gloo on CPU, NCCL on CUDA).

Run ``torchrun --nproc-per-node N -m livermets.deep.ddp CROPS.npz SPEC.json OUT_DIR``: every
process trains on its share of each batch, gradients are averaged, rank 0 writes the weights.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from livermets._atomic import atomic_path
from livermets.deep.config import DeepModelSpec
from livermets.deep.crops import load_crops
from livermets.deep.train import train_lesion_model


def train_distributed(crops_path: str | Path, spec: DeepModelSpec, out: str | Path,
                      seed: int = 0, backend: str | None = None) -> dict[str, object]:
    """Train in the current process group member (initialised here from torchrun's env vars)."""
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    own = not dist.is_initialized()
    if own:
        dist.init_process_group(backend)
    try:
        crops = load_crops(crops_path, spec.crops)
        classes = sorted(crops.meta["label"].astype(str).unique())
        y = crops.meta["label"].astype(str).map({c: k for k, c in enumerate(classes)})
        result = train_lesion_model(crops, y.to_numpy(dtype=int), classes, spec, seed)
        rank, world = dist.get_rank(), dist.get_world_size()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / f"weights-rank{rank}.pt") as tmp:
            torch.save(result.model.state_dict(), tmp)
        dist.barrier()
        summary = {"rank": rank, "world_size": world, "best_epoch": result.best_epoch,
                   "history": result.history, "classes": classes}
        if rank == 0:
            (out / "summary.json").write_text(json.dumps(summary, default=float))
        return summary
    finally:
        if own:
            dist.destroy_process_group()


def _spawned(rank: int, world: int, port: int, crops_path: str, spec_json: str, out: str,
             seed: int) -> None:
    """Entry of one process started by ``spawn_cpu`` (sets torchrun's variables itself)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    train_distributed(crops_path, DeepModelSpec.model_validate_json(spec_json), out, seed, "gloo")


def spawn_cpu(crops_path: str | Path, spec: DeepModelSpec, out: str | Path, world: int = 2,
              seed: int = 0, port: int | None = None) -> Path:
    """Train with ``world`` CPU processes on the gloo backend (what torchrun would start)."""
    import socket

    import torch.multiprocessing as mp

    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    mp.spawn(_spawned, args=(world, port, str(crops_path), spec.model_dump_json(), str(out),
                             seed), nprocs=world, join=True)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    """torchrun entry point: CROPS.npz SPEC.json OUT_DIR [SEED]."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    spec = DeepModelSpec.model_validate_json(Path(args[1]).read_text(encoding="utf-8"))
    train_distributed(args[0], spec, args[2], int(args[3]) if len(args) == 4 else 0)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
