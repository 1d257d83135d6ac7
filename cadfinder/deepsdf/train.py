"""`cadfinder train`: the DeepSDF auto-decoder on cached SDF samples.

One latent per training shape and the decoder are optimised jointly (Adam, separate step
schedules). Progress shows loss and ETA; a safetensors checkpoint is written every few epochs
and at the end, and `--resume` continues from the last one. Under `torchrun` each process
trains on its own shard of shapes with the decoder wrapped in DistributedDataParallel (gloo on
CPUs, NCCL on GPUs); the latent table is combined at checkpoints. On a GPU the forward pass
runs in bfloat16 autocast.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from cadfinder.deepsdf import weights
from cadfinder.deepsdf.config import DecoderConfig
from cadfinder.deepsdf.dataset import SampleBank
from cadfinder.deepsdf.decoder import Decoder, clamped_l1

CHECKPOINT = "checkpoint.safetensors"
OPTIMIZER = "optimizer.safetensors"


def pick_device(preference: str = "auto") -> torch.device:
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("CUDA was asked for but no CUDA device is available")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def start_processes(device: str = "auto") -> tuple[torch.device, bool, int, int]:
    """(device, distributed, rank, world size) of this training process: under torchrun
    (WORLD_SIZE > 1) the process group is joined (NCCL on GPUs, gloo on CPUs); alone, rank 0 of 1."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    dev = pick_device(device)
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    return dev, distributed, rank, world


def _lr(base: float, epoch: int, cfg: DecoderConfig) -> float:
    return base * cfg.train.lr_gamma ** (epoch // cfg.train.lr_step_epochs)


def flat_optimizer_state(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """The optimizer's per-parameter tensors as flat "group.param.key" entries (safetensors holds
    only flat tensors); every trainer's checkpoints use it."""
    out = {}
    for gi, group in enumerate(opt.param_groups):
        for pi, p in enumerate(group["params"]):
            for k, v in opt.state.get(p, {}).items():
                out[f"{gi}.{pi}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return out


def restore_optimizer_state(opt: torch.optim.Optimizer, flat: dict[str, torch.Tensor]) -> None:
    """The inverse of flat_optimizer_state, into an optimizer over the same parameters."""
    for key, v in flat.items():
        gi, pi, k = key.split(".", 2)
        p = opt.param_groups[int(gi)]["params"][int(pi)]
        opt.state.setdefault(p, {})[k] = v.to(p.device) if k != "step" else v


def save_bundle(path, decoder: Decoder, latents: torch.Tensor, part_numbers: list[str], extra: dict) -> Path:
    tensors = {f"decoder.{k}": v for k, v in decoder.state_dict().items()}
    tensors["latents"] = latents
    return weights.save(path, tensors, {"config": decoder.cfg.to_json(), "part_numbers": part_numbers, **extra})


def load_decoder(path, device="cpu") -> tuple[Decoder, torch.Tensor, list[str], dict]:
    """Decoder, latent table and part numbers from a DeepSDF safetensors bundle."""
    tensors, meta = weights.load(path, device)
    cfg = DecoderConfig.from_json(meta["config"])
    dec = Decoder(cfg).to(device)
    dec.load_state_dict(weights.prefixed(tensors, "decoder."))
    dec.eval()
    return dec, tensors.get("latents"), meta.get("part_numbers", []), meta


def train(cfg: DecoderConfig, files: list[Path], part_numbers: list[str], out_dir: str | Path,
          resume: bool = False, device: str = "auto", seed: int = 0, epochs: int | None = None,
          checkpoint_every: int = 5, progress: bool = True, log=None) -> Path:
    """Train the auto-decoder; returns the path of the final bundle (out_dir/deepsdf.safetensors)."""
    dev, distributed, rank, world = start_processes(device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    torch.manual_seed(seed)
    epochs = epochs or cfg.train.epochs

    decoder = Decoder(cfg).to(dev)
    n = len(files)
    latents = torch.nn.Parameter(torch.randn(n, cfg.latent_dim, device=dev) * cfg.latent_init_std)
    opt = torch.optim.Adam([{"params": decoder.parameters(), "lr": cfg.train.lr_decoder},
                            {"params": [latents], "lr": cfg.train.lr_latent}])
    start_epoch = 0
    ckpt = out_dir / CHECKPOINT
    if resume and ckpt.exists():
        dec, lat, names, meta = load_decoder(ckpt, dev)
        if names != part_numbers:
            raise RuntimeError(f"{ckpt} was trained on other shapes; start without --resume or use another folder")
        decoder.load_state_dict(dec.state_dict())
        with torch.no_grad():
            latents.copy_(lat)
        if (out_dir / OPTIMIZER).exists():
            restore_optimizer_state(opt, weights.load(out_dir / OPTIMIZER, dev)[0])
        start_epoch = int(meta.get("epoch", 0))
        if rank == 0:
            log(f"resuming at epoch {start_epoch}")
    model = torch.nn.parallel.DistributedDataParallel(decoder) if distributed else decoder

    bank = SampleBank(files)
    mine = np.arange(rank, n, world)  # this process's shard of shapes
    rng = np.random.default_rng([seed, rank, start_epoch])
    B, S = cfg.train.shapes_per_batch, cfg.train.samples_per_shape
    steps_per_epoch = max(1, math.ceil(len(mine) / B))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else torch.autocast("cpu", enabled=False)
    t0 = time.time()
    done_steps = 0
    total_steps = (epochs - start_epoch) * steps_per_epoch
    final = out_dir / "deepsdf.safetensors"
    for epoch in range(start_epoch, epochs):
        for g, base in zip(opt.param_groups, (cfg.train.lr_decoder, cfg.train.lr_latent)):
            g["lr"] = _lr(base, epoch, cfg)
        order = rng.permutation(mine)
        epoch_loss = 0.0
        model.train()
        for s in range(steps_per_epoch):
            ids = order[s * B : (s + 1) * B]
            if len(ids) == 0:
                ids = order[:B]
            pts, sdf = bank.batch(ids, S, rng)
            x = torch.from_numpy(pts).to(dev)
            y = torch.from_numpy(sdf).to(dev)
            z = latents[torch.from_numpy(ids).to(dev)]
            with autocast:
                pred = model(z, x)
            loss = clamped_l1(pred.float(), y, cfg.clamp_delta)
            # Gaussian prior on the latents: -log p(z) = ||z||^2 / (2 sigma^2) + const.
            reg = cfg.reg_lambda * z.pow(2).sum(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            (loss + reg).backward()
            opt.step()
            epoch_loss += loss.item()
            done_steps += 1
        if rank == 0 and progress:
            rate = done_steps / max(time.time() - t0, 1e-9)
            eta = (total_steps - done_steps) / max(rate, 1e-9)
            log(f"epoch {epoch + 1}/{epochs}  loss {epoch_loss / steps_per_epoch:.5f}  "
                f"|z| {latents.detach()[mine].norm(dim=1).mean():.3f}  ETA {eta / 60:.1f} min")
        last = epoch + 1 == epochs
        if (epoch + 1) % checkpoint_every == 0 or last:
            table = _gather_latents(latents, mine, distributed)
            if rank == 0:
                save_bundle(ckpt, decoder, table, part_numbers, {"epoch": epoch + 1, "loss": epoch_loss / steps_per_epoch})
                weights.save(out_dir / OPTIMIZER, flat_optimizer_state(opt), {"epoch": epoch + 1})
                if last:
                    save_bundle(final, decoder, table, part_numbers,
                                {"epoch": epoch + 1, "loss": epoch_loss / steps_per_epoch})
    if distributed:
        dist.barrier()
    return final


def _gather_latents(latents: torch.Tensor, mine: np.ndarray, distributed: bool) -> torch.Tensor:
    table = latents.detach().clone()
    if distributed:
        mask = torch.zeros(len(table), 1, device=table.device)
        mask[torch.from_numpy(mine).to(table.device)] = 1
        table = table * mask
        dist.all_reduce(table)
    return table
