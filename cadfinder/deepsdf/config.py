"""DeepSDF configurations are data: TOML files (resources/configs/deepsdf_*.toml)."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from cadfinder.resources import resource_path


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60
    shapes_per_batch: int = 32
    samples_per_shape: int = 2048
    lr_decoder: float = 1e-3
    lr_latent: float = 2e-3
    lr_step_epochs: int = 20
    lr_gamma: float = 0.5


@dataclass(frozen=True)
class DecoderConfig:
    name: str = "compact"
    latent_dim: int = 256
    hidden: tuple[int, ...] = (256, 256, 256, 256)
    skip_layers: tuple[int, ...] = (2,)
    dropout: float = 0.0
    weight_norm: bool = True
    clamp_delta: float = 0.1
    reg_lambda: float = 1e-4
    latent_init_std: float = 0.01
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @staticmethod
    def from_dict(d: dict) -> "DecoderConfig":
        d = dict(d)
        train = TrainConfig(**d.pop("train", {}))
        known = {f.name for f in dataclasses.fields(DecoderConfig)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown DeepSDF config keys: {sorted(unknown)}")
        for k in ("hidden", "skip_layers"):
            if k in d:
                d[k] = tuple(d[k])
        cfg = DecoderConfig(**d, train=train)
        if any(not 0 < s < len(cfg.hidden) for s in cfg.skip_layers):
            raise ValueError("skip_layers must index hidden layers after the first")
        return cfg

    @staticmethod
    def from_json(text: str) -> "DecoderConfig":
        return DecoderConfig.from_dict(json.loads(text))


def load_config(name_or_path: str) -> DecoderConfig:
    """A config by name ('compact', 'reference') or by path to a TOML file."""
    p = Path(name_or_path)
    if not p.exists():
        p = resource_path("configs", f"deepsdf_{name_or_path}.toml")
    if not p.exists():
        raise ValueError(f"no DeepSDF config {name_or_path!r} (a path, or 'compact' / 'reference')")
    return DecoderConfig.from_dict(tomllib.loads(p.read_text()))
