"""The one typed settings object, persisted as TOML under the user's config dir.

`CADFINDER_HOME` moves settings and data under one base directory (tests rely on it to
start from an empty library). `CADFINDER_DB` selects a shared server. Passwords are never
written here: a URI's password is stripped on save; use ~/.pgpass, PGPASSFILE or
PGPASSWORD (libpq's own mechanisms) for shared servers.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import platformdirs
import tomli_w

APP = "cadfinder"
ROLES = ("designer", "admin")
DEVICES = ("auto", "cpu", "cuda")
BRIDGE_BACKENDS = ("cadquery", "creo")


@dataclass
class DatabaseSettings:
    uri: str = ""  # empty: use the embedded server in the data dir
    role: str = "admin"  # which cadfinder role the app acts as: designer (read-only) or admin
    connect_timeout_s: int = 5


@dataclass
class IndexSettings:
    # bench/bench_pgvector.py at 1,000,000 x 256: m 32 / ef_construction 128 gave recall@10 0.998 at
    # p50 4.7 ms unfiltered (m 16 / 64: 0.87 at 3.7 ms), for a build of 584 s instead of 197 s.
    hnsw_m: int = 32
    hnsw_ef_construction: int = 128
    hnsw_ef_search: int = 100


@dataclass
class ModelSettings:
    device: str = "auto"
    sdf_weights: str = ""  # empty: the weights shipped in resources/
    clip_weights: str = ""  # empty: the domain model shipped in resources/
    clip_arch: str = ""  # for an admin's pretrained open_clip weights without our metadata, e.g. ViT-B-32


@dataclass
class BridgeSettings:
    backend: str = "cadquery"
    creoson_url: str = "http://localhost:9056/creoson"
    creo_start_command: str = ""
    creo_working_dir: str = ""
    creo_export_dir: str = ""  # where Creo writes STEP for the Creo ingest, as both sides see it; empty: data folder
    creo_version: int = 0  # Creo's major version (7+ needs creo.set_creo_version); 0: from the start folder's name


@dataclass
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    bridge: BridgeSettings = field(default_factory=BridgeSettings)

    def validate(self) -> None:
        """Raise ValueError when a value is out of its allowed set or range."""
        if self.database.role not in ROLES:
            raise ValueError(f"database.role must be one of {ROLES}, not {self.database.role!r}")
        if self.models.device not in DEVICES:
            raise ValueError(f"models.device must be one of {DEVICES}, not {self.models.device!r}")
        if self.bridge.backend not in BRIDGE_BACKENDS:
            raise ValueError(f"bridge.backend must be one of {BRIDGE_BACKENDS}")
        if not 0 <= self.bridge.creo_version <= 99:
            raise ValueError("bridge.creo_version must lie in 0..99 (0: read from the start folder's name)")
        if not 2 <= self.index.hnsw_m <= 100:
            raise ValueError("index.hnsw_m must lie in 2..100")
        if not 4 <= self.index.hnsw_ef_construction <= 1000:
            raise ValueError("index.hnsw_ef_construction must lie in 4..1000")
        if not 1 <= self.index.hnsw_ef_search <= 1000:
            raise ValueError("index.hnsw_ef_search must lie in 1..1000")


def home_dir() -> Path | None:
    """The CADFINDER_HOME override, or None when the platform dirs are used."""
    home = os.environ.get("CADFINDER_HOME")
    return Path(home).expanduser().resolve() if home else None


def config_dir() -> Path:
    home = home_dir()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    home = home_dir()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP))


def settings_path() -> Path:
    return config_dir() / "settings.toml"


def strip_password(uri: str) -> str:
    """Remove a password from a postgresql:// URI (key=value strings keep no password either)."""
    if "://" in uri:
        parts = urlsplit(uri)
        if parts.password is not None:
            host = parts.hostname or ""
            if parts.port:
                host = f"{host}:{parts.port}"
            netloc = f"{parts.username}@{host}" if parts.username else host
            return urlunsplit(parts._replace(netloc=netloc))
        return uri
    return " ".join(tok for tok in uri.split() if not tok.startswith("password="))


def _merge(dc, values: dict, where: str = "", ignored: list[str] | None = None):
    """Copy `values` onto the dataclass `dc`; a value of the wrong type is left out and named in
    `ignored` (an int is taken for a float, a bool never for a number)."""
    ignored = [] if ignored is None else ignored
    for f in dataclasses.fields(dc):
        if f.name not in values:
            continue
        cur = getattr(dc, f.name)
        new = values[f.name]
        name = f"{where}{f.name}"
        if dataclasses.is_dataclass(cur):
            if isinstance(new, dict):
                _merge(cur, new, f"{name}.", ignored)
            else:
                ignored.append(f"{name} should be a section, not {new!r}")
        elif isinstance(cur, float) and isinstance(new, int) and not isinstance(new, bool):
            setattr(dc, f.name, float(new))
        elif isinstance(new, type(cur)) and not (isinstance(new, bool) and not isinstance(cur, bool)):
            setattr(dc, f.name, new)
        else:
            ignored.append(f"{name} = {new!r} is not a {type(cur).__name__}; the default {cur!r} is used")
    return dc


def load(path: Path | None = None) -> Settings:
    """Settings from TOML (defaults for anything absent), with environment overrides applied."""
    path = path or settings_path()
    s = Settings()
    if path.exists():
        try:
            ignored: list[str] = []
            _merge(s, tomllib.loads(path.read_text()), ignored=ignored)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"settings file {path} is not valid TOML: {e}") from e
        for msg in ignored:
            warnings.warn(f"settings file {path}: {msg}", stacklevel=2)
    env_db = os.environ.get("CADFINDER_DB")
    if env_db:
        s.database.uri = env_db
    s.validate()
    return s


def _file_uri(path: Path) -> str:
    """The database URI a settings file holds ("" when none)."""
    try:
        uri = tomllib.loads(path.read_text()).get("database", {}).get("uri", "")
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return ""
    return uri if isinstance(uri, str) else ""


def save(s: Settings, path: Path | None = None) -> Path:
    """Write settings as TOML atomically; any password in the URI is dropped."""
    s.validate()
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dataclasses.asdict(s)
    env_db = os.environ.get("CADFINDER_DB")
    if env_db and data["database"]["uri"] == env_db:
        # A server given for this run (load() put it in s) is not a setting: keep the file's own.
        data["database"]["uri"] = _file_uri(path)
    data["database"]["uri"] = strip_password(data["database"]["uri"])
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(data))
    os.replace(tmp, path)
    return path
