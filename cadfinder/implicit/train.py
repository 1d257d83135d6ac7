"""`cadfinder train implicit`: the local-code encoder and decoder, trained together on cached
samples of the catalog's training parts (each on every lattice size it fits).

A step takes a few parts; for each, a random subset of its target samples is located among its
active nodes, the stencils of the nodes in play are encoded, the decoder blends their answers, and
the loss is the clamped L1 error in units of the lattice spacing. Every part is seen under a random
one of the 48 symmetries of the cube (axis permutations and flips, applied to stencils and
positions alike), so an edge or hole is learnt in every orientation the lattice allows.

Checkpoints (model and optimiser, safetensors) are written every epoch and `--resume` continues
from the last. Under `torchrun` each process trains a shard of the parts with the model in
DistributedDataParallel (gloo on CPUs, NCCL on GPUs).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from cadfinder.deepsdf import weights
from cadfinder.deepsdf.train import flat_optimizer_state, restore_optimizer_state, start_processes
from cadfinder.implicit.codes import corner_lookup
from cadfinder.implicit.dataset import PartSamples
from cadfinder.implicit.model import LocalConfig, LocalSdf

BUNDLE = "implicit.safetensors"
CHECKPOINT = "implicit_checkpoint.safetensors"
OPTIMIZER = "implicit_optimizer.safetensors"

EPOCHS = 15
PARTS_PER_STEP = 4
SAMPLES_PER_PART = 4096
LEARNING_RATE = 1e-3


def save_model(path, model: LocalSdf, extra: dict) -> Path:
    return weights.save(path, {f"implicit.{k}": v for k, v in model.state_dict().items()},
                        {"implicit_config": model.cfg.as_dict(), **extra})


def load_model(path, device="cpu") -> tuple[LocalSdf, dict]:
    """The local-code model of a safetensors bundle, in eval mode, and its metadata."""
    tensors, meta = weights.load(path, device)
    if "implicit_config" not in meta:
        from cadfinder.errors import InputError

        raise InputError(f"{path} holds no implicit (local-code) model")
    model = LocalSdf(LocalConfig.from_dict(meta["implicit_config"])).to(device)
    model.load_state_dict(weights.prefixed(tensors, "implicit."))
    model.eval()
    return model, meta


def cube_symmetry(rng: np.random.Generator) -> tuple[list[int], np.ndarray]:
    """A random axis permutation and sign flips: one of the cube's 48 symmetries."""
    return [int(i) for i in rng.permutation(3)], rng.choice([-1.0, 1.0], 3)


def apply_symmetry(stencils: torch.Tensor, rel: torch.Tensor, perm: list[int], signs: np.ndarray):
    """The same symmetry on stencils (U, 4, S, S, S) and relative positions (..., 3): new axis k
    is old axis perm[k], times signs[k]."""
    s = stencils.permute(0, 1, 2 + perm[0], 2 + perm[1], 2 + perm[2])
    flips = [2 + k for k in range(3) if signs[k] < 0]
    if flips:
        s = s.flip(flips)
    sg = torch.as_tensor(signs, dtype=s.dtype)
    s = torch.cat([s[:, :1], s[:, 1:][:, perm] * sg[None, :, None, None, None]], dim=1)
    return s.contiguous(), rel[..., perm] * sg.to(rel.dtype)


def part_batch(part: PartSamples, rng: np.random.Generator, samples: int, augment: bool = True) -> dict:
    """Tensors of one part's step: random target samples located among its active nodes, the
    stencils of the nodes in play, and the targets in units of the lattice spacing."""
    idx = rng.integers(0, len(part.points), samples)
    lk = corner_lookup(part.lattice, part.nodes, part.inside, part.points[idx], compact=True)
    stencils = torch.from_numpy(part.stencils(lk.nodes))
    rel = torch.from_numpy(lk.rel)
    if augment:
        stencils, rel = apply_symmetry(stencils, rel, *cube_symmetry(rng))
    return {"stencils": stencils, "slot": torch.from_numpy(lk.slot), "inside": torch.from_numpy(lk.inside),
            "rel": rel, "weight": torch.from_numpy(lk.weight),
            "target": torch.from_numpy(part.sdf[idx] / part.lattice.spacing)}


class StepLoss(torch.nn.Module):
    """The mean clamped L1 loss of a step's parts: one forward per step, which is what
    DistributedDataParallel wraps."""

    def __init__(self, model: LocalSdf):
        super().__init__()
        self.model = model

    def forward(self, batches: list[dict]) -> torch.Tensor:
        c = self.model.cfg.clamp
        total = 0.0
        for b in batches:
            codes = self.model.encoder(b["stencils"])
            pred = self.model.blend(self.model.decoder.node_term(codes), b["slot"], b["inside"], b["rel"], b["weight"])
            total = total + (pred.clamp(-c, c) - b["target"].clamp(-c, c)).abs().mean()
        return total / len(batches)


def train(cfg: LocalConfig, files: list[Path], out_dir: str | Path, resume: bool = False, device: str = "auto",
          seed: int = 0, epochs: int = EPOCHS, progress: bool = True, log=None, extra: dict | None = None) -> Path:
    """Train on cached parts (dataset.build_cache files); returns out_dir/implicit.safetensors.
    `extra` goes into the bundle's metadata (the held-out families, the catalog)."""
    dev, distributed, rank, world = start_processes(device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    torch.manual_seed(seed)

    mine = [files[i] for i in range(rank, len(files), world)]
    parts = [PartSamples(f) for f in mine]
    model = LocalSdf(cfg).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    steps_per_epoch = max(1, math.ceil(len(parts) / PARTS_PER_STEP))
    if distributed:  # every process must take the same number of steps
        n = torch.tensor([steps_per_epoch], device=dev)
        dist.all_reduce(n, op=dist.ReduceOp.MIN)
        steps_per_epoch = int(n.item())
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LEARNING_RATE, total_steps=epochs * steps_per_epoch,
                                                pct_start=0.05)
    start_epoch = 0
    ckpt = out_dir / CHECKPOINT
    if resume and ckpt.exists():
        loaded, meta = load_model(ckpt, dev)
        if loaded.cfg != cfg:
            raise RuntimeError(f"{ckpt} has another configuration; start without --resume or use another folder")
        model.load_state_dict(loaded.state_dict())
        if (out_dir / OPTIMIZER).exists():
            restore_optimizer_state(opt, weights.load(out_dir / OPTIMIZER, dev)[0])
        start_epoch = int(meta.get("epoch", 0))
        with warnings.catch_warnings():  # the schedule is replayed to where it stopped, no step taken
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(start_epoch * steps_per_epoch):
                sched.step()
        if rank == 0:
            log(f"resuming at epoch {start_epoch}")
    step_loss = StepLoss(model)
    wrapped = torch.nn.parallel.DistributedDataParallel(step_loss) if distributed else step_loss
    t0 = time.time()
    final = out_dir / BUNDLE
    for epoch in range(start_epoch, epochs):
        rng = np.random.default_rng([seed, rank, epoch])
        order = rng.permutation(len(parts))
        total = 0.0
        model.train()
        for s in range(steps_per_epoch):
            ids = order[(s * PARTS_PER_STEP) % len(order):][:PARTS_PER_STEP]
            batches = [{k: v.to(dev) for k, v in part_batch(parts[i], rng, SAMPLES_PER_PART).items()} for i in ids]
            loss = wrapped(batches)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        if rank == 0 and progress:
            done = epoch + 1 - start_epoch
            eta = (time.time() - t0) / done * (epochs - epoch - 1)
            log(f"epoch {epoch + 1}/{epochs}  loss {total / steps_per_epoch:.5f} (units of h)  ETA {eta / 60:.1f} min")
        if rank == 0:
            meta = {"epoch": epoch + 1, "loss": total / steps_per_epoch, "parts": len(files), **(extra or {})}
            save_model(ckpt, model, meta)
            weights.save(out_dir / OPTIMIZER, flat_optimizer_state(opt), {"epoch": epoch + 1})
            if epoch + 1 == epochs:
                save_model(final, model, meta)
    if distributed:
        dist.barrier()
    return final
