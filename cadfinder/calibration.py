"""Score calibrations: logistic maps from a raw score to how likely a result is what was asked for.

- geometric (`calibration.json`: r_half, width): P(the top result is the exact part | the
  re-rank's residual), decreasing in the residual; `cadfinder eval retrieval --calibrate`.
- semantic (`semantic_calibration.json`: text_mid, text_width, sketch_mid, sketch_width):
  P(a result is of the family asked for | its text or sketch score), increasing in the score;
  `cadfinder eval clip --calibrate`.

Each is the user's fitted file (the data dir, which `--calibrate` writes), else the shipped one
(resources/models), else the defaults; a file that cannot be used is named in a warning.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np

from cadfinder.resources import resource_path

GEOMETRIC = "calibration.json"
SEMANTIC = "semantic_calibration.json"


def user_path(name: str) -> Path:
    """Where `--calibrate` writes: the user's data dir (the installed resources stay as shipped,
    and may not be writable)."""
    from cadfinder.settings import data_dir

    return data_dir() / "models" / name


def load(name: str, defaults: dict) -> dict:
    """The calibration `name`: the keys of `defaults` (positive numbers) from the user's file,
    else the shipped one, else `defaults`."""
    for path in (user_path(name), resource_path("models", name)):
        if not path.exists():
            continue
        try:
            values = json.loads(path.read_text())
            cal = {k: float(values[k]) for k in defaults}
            if not all(math.isfinite(v) and v > 0 for v in cal.values()):
                raise ValueError(f"{cal} are not all positive numbers")
            return cal
        except (OSError, ValueError, KeyError, TypeError) as e:
            warnings.warn(f"score calibration {path} cannot be used ({type(e).__name__}: {e}); passed over",
                          stacklevel=2)
    return dict(defaults)


def save(name: str, values: dict) -> Path:
    path = user_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=1) + "\n")
    return path


def rising(x: float, mid: float, width: float) -> float:
    """Logistic in x: 0.5 at `mid`, rising with x over about `width`."""
    return float(1.0 / (1.0 + np.exp(np.clip(-(x - mid) / width, -50, 50))))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of outcomes y (0/1) under probabilities p."""
    return float(-np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9)))


def fit(values, outcomes, increasing: bool = False) -> tuple[float, float, float]:
    """(midpoint, width, mean log-loss) of the logistic P(outcome | value), by grid search: the
    midpoint over the values' quantiles, the width over 0.0005-0.2 (residuals and cosine scores
    are of that order). Decreasing in the value unless `increasing`."""
    r = np.asarray(values, float) * (-1.0 if increasing else 1.0)
    y = np.asarray(outcomes, float)
    best = None
    for mid in np.quantile(r, np.linspace(0.05, 0.95, 37)):
        for width in np.geomspace(0.0005, 0.2, 50):
            p = 1 / (1 + np.exp(np.clip((r - mid) / width, -50, 50)))
            nll = log_loss(p, y)
            if best is None or nll < best[0]:
                best = (nll, float(mid), float(width))
    nll, mid, width = best
    return (-mid if increasing else mid), width, float(nll)
