"""Where the shipped resources (configs, weights, icon) live: the repository's resources/ folder,
or the copy installed beside the package."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """CADFINDER_RESOURCES, else the checkout's resources/ (an editable install), else the copy
    a wheel installs under PREFIX/share/cadfinder/resources, else a bundle's beside the package."""
    env = os.environ.get("CADFINDER_RESOURCES")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "resources", Path(sys.prefix) / "share" / "cadfinder" / "resources",
                      here / "resources"):
        if candidate.is_dir():
            return candidate
    return here.parent / "resources"


def resource_path(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)
