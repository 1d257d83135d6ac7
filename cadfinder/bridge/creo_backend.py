"""Open a genome in Creo Parametric over CREOSON: connect (start Creo if needed), open the base
model, set parameters and dimensions, suppress/resume features, regenerate, save under a new
part number when the genome was adapted, activate the window.

Nothing is left half-changed: values are snapshotted first and restored (with a regeneration)
when any later step fails; an adapted part is renamed in session before saving, so the base
model's file on disk is never overwritten (a new part number equal to the base model's name is
refused before the first request: CREOSON's file.rename then does nothing and the save would
overwrite the base model).
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
from contextlib import contextmanager

from cadfinder.bridge import safety
from cadfinder.bridge.creoson import CreoError, CreosonClient

# CREOSON's help (creo.set_creo_version): from Creo 7 on, file.regenerate, feature.suppress,
# feature.resume (and family-table replace, file.assemble, feature.delete) need the version, set
# once per CREOSON session.
FIRST_VERSION_TO_SET = 7
_VERSION_IN_PATH = re.compile(r"creo[ _]?(?:parametric[ _]?)?(\d{1,2})(?:\.\d+)*", re.I)


def plan(genome: dict) -> dict:
    """The validated Creo changes a genome asks for (raises InputError on anything unsafe)."""
    creo = genome.get("creo")
    if not isinstance(creo, dict) or not creo.get("model_file"):
        raise CreoError("this genome has no Creo model mapping (genome.creo.model_file); open it with the "
                        "cadquery backend instead")
    model = safety.model_file(creo["model_file"])
    params, dims = {}, {}
    for key, creo_name in (creo.get("parameters") or {}).items():
        p = genome["parameters"].get(key)
        if p is None:
            raise CreoError(f"genome.creo maps unknown parameter {key!r}")
        value = safety.number(p.get("value"), f"parameter {key}")
        params[safety.name(creo_name, "parameter name")] = (int(value) if p.get("integer") else value,
                                                            "INTEGER" if p.get("integer") else "DOUBLE")
    for key, dim in (creo.get("dimensions") or {}).items():
        p = genome["parameters"].get(key)
        if p is None:
            raise CreoError(f"genome.creo maps unknown dimension parameter {key!r}")
        dims[safety.dimension(dim)] = safety.number(p.get("value"), f"dimension {key}")
    suppress, resume = [], []
    by_id = {f["id"]: f for f in genome.get("features", [])}
    for fid, cf in (creo.get("features") or {}).items():
        if fid not in by_id:
            raise CreoError(f"genome.creo maps unknown feature {fid!r}")
        (suppress if by_id[fid].get("suppressed") else resume).append(safety.name(cf["name"], "feature name"))
    return {"model": model, "parameters": params, "dimensions": dims, "suppress": suppress, "resume": resume}


def split_start_command(start_command: str) -> tuple[str, str]:
    """(start folder, script) of the configured start command, checked before anything is sent:
    CREOSON runs only nitro_proe_remote.bat and rejects an empty start folder."""
    flavour = ntpath if "\\" in start_command else posixpath
    start_dir, script = flavour.split(start_command.strip())
    if script.lower() != safety.START_COMMAND:
        raise CreoError(f"CREOSON starts Creo only through {safety.START_COMMAND}, not {script!r}")
    if not start_dir:
        raise CreoError(f"the Creo start command needs the folder that holds {safety.START_COMMAND} "
                        f"(e.g. C:\\creoson\\{safety.START_COMMAND}; Settings > Creo bridge)")
    return start_dir, script


def creo_version(configured: int | str | None, start_command: str = "") -> int:
    """The Creo major version: the configured one, else the one the start command's path or (when
    this machine can read it) the script names, as nitro_proe_remote.bat does in its
    PRO_DIRECTORY ('C:\\PTC\\Creo 9.0.2.0\\...'), else 0 (unknown: treated as before Creo 7)."""
    if configured not in (None, "", 0, "0"):
        try:
            v = int(configured)
        except (TypeError, ValueError):
            raise CreoError(f"Creo version {configured!r} is not a number (e.g. 9)") from None
        if not 1 <= v <= 99:
            raise CreoError(f"Creo version {v} is not a Creo version (e.g. 9)")
        return v
    text = start_command or ""
    try:
        if text and os.path.getsize(text) < 100_000:
            text += "\n" + open(text, encoding="utf-8", errors="replace").read()
    except OSError:
        pass  # CREOSON on another machine: only the path is known here
    m = _VERSION_IN_PATH.search(text)
    return int(m.group(1)) if m else 0


def _ensure_creo(client: CreosonClient, start_command: str) -> None:
    if client.call("connection", "is_creo_running").get("running"):
        return
    if not start_command:
        raise CreoError("Creo is not running and no start command is set (Settings > Creo bridge)")
    start_dir, script = split_start_command(start_command)
    client.call("connection", "start_creo", {"start_dir": start_dir, "start_command": script, "retries": 5})
    if not client.call("connection", "is_creo_running").get("running"):
        raise CreoError("Creo did not start (check the start command and the Creo licence)")


def _snapshot(client: CreosonClient, model: str, p: dict) -> dict:
    params = {x["name"]: x for x in client.call("parameter", "list", {"file": model}).get("paramlist", [])}
    dims = {x["name"]: x for x in client.call("dimension", "list", {"file": model}).get("dimlist", [])}
    feats = {x["name"]: x for x in client.call("feature", "list", {"file": model}).get("featlist", [])}
    missing = [n for n in p["parameters"] if n not in params] + [d for d in p["dimensions"] if d not in dims]
    missing += [f for f in p["suppress"] + p["resume"] if f not in feats]
    if missing:
        raise CreoError(f"{model} does not have {', '.join(missing[:5])}: the genome does not match this Creo model")
    return {"parameters": params, "dimensions": dims, "features": feats}


def _set_values(client: CreosonClient, model: str, parameters: dict, dimensions: dict) -> None:
    """parameter.set for each NAME -> (value, Creo type) (never creating one), dimension.set for
    each dN -> value."""
    for n, (value, typ) in parameters.items():
        client.call("parameter", "set", {"file": model, "name": n, "type": typ, "value": value, "no_create": True})
    for d, value in dimensions.items():
        client.call("dimension", "set", {"file": model, "name": d, "value": value})


def _restore(client: CreosonClient, model: str, p: dict, snap: dict) -> None:
    old = snap["parameters"]
    _set_values(client, model, {n: (old[n].get("value"), old[n].get("type", "DOUBLE")) for n in p["parameters"]},
                {d: snap["dimensions"][d].get("value") for d in p["dimensions"]})
    was_suppressed = [f for f in p["suppress"] + p["resume"] if snap["features"][f].get("status") == "SUPPRESSED"]
    was_active = [f for f in p["suppress"] + p["resume"] if f not in was_suppressed]
    if was_active:
        client.call("feature", "resume", {"file": model, "names": was_active, "with_children": True})
    if was_suppressed:
        client.call("feature", "suppress", {"file": model, "names": was_suppressed, "clip": False,
                                            "with_children": True})
    client.call("file", "regenerate", {"file": model})


@contextmanager
def creo_session(url: str, start_command: str = "", working_dir: str = "", version: int | str | None = None,
                 timeout_s: float = 60.0):
    """A CREOSON session on a running Creo (started with the start command when it is not),
    its version set where Creo 7+ needs it, in the working folder; disconnects on leaving.
    Every setting is checked before the first request."""
    if start_command:
        split_start_command(start_command)
    v = creo_version(version, start_command)
    client = CreosonClient(url, timeout_s)
    client.connect()
    try:
        _ensure_creo(client, start_command)
        if v >= FIRST_VERSION_TO_SET:
            client.call("creo", "set_creo_version", {"version": v})
        if working_dir:
            client.call("creo", "cd", {"dirname": working_dir})
        yield client
    finally:
        client.disconnect()


def _open_args(creo: dict, model: str) -> dict:
    """file.open's arguments: a family-table instance opens through its generic."""
    args = {"file": model, "display": True, "activate": True}
    if creo.get("generic"):
        args["generic"] = safety.model_stem(creo["generic"])
    return args


def open_in_creo(genome: dict, url: str, start_command: str = "", working_dir: str = "",
                 new_part_number: str | None = None, timeout_s: float = 60.0, version: int | str | None = None) -> dict:
    """Drive Creo to the genome's state; returns what was done (model, saved, commands sent)."""
    p = plan(genome)
    new_file = None
    if new_part_number:
        new_file = f"{safety.part_number(new_part_number)}.{p['model'].rsplit('.', 1)[1].lower()}"
        if new_part_number.lower() == p["model"].rsplit(".", 1)[0].lower():
            raise CreoError(f"the new part number {new_part_number} is the base model's own name: Creo would "
                            f"overwrite {p['model']}; choose another number")
    open_args = _open_args(genome["creo"], p["model"])
    with creo_session(url, start_command, working_dir, version, timeout_s) as client:
        model = p["model"]
        client.call("file", "open", open_args)
        snap = _snapshot(client, model, p)
        try:
            _set_values(client, model, p["parameters"], p["dimensions"])
            if p["resume"]:
                client.call("feature", "resume", {"file": model, "names": p["resume"], "with_children": True})
            if p["suppress"]:
                client.call("feature", "suppress", {"file": model, "names": p["suppress"], "clip": False,
                                                    "with_children": True})
            client.call("file", "regenerate", {"file": model})
        except CreoError as e:
            try:
                _restore(client, model, p, snap)
                note = "the model was restored to its previous state"
            except CreoError as e2:
                note = f"restoring the model also failed ({e2}); close it in Creo without saving"
            raise CreoError(f"{e}; {note}") from None
        saved = False
        if new_file:
            # file.rename keeps the model's type and answers with the name it gave; no answer means
            # it renamed nothing, and a save would then overwrite the base model.
            renamed = client.call("file", "rename", {"file": model, "new_name": new_file,
                                                     "onlysession": True}).get("file")
            if not renamed:
                raise CreoError(f"Creo did not rename {model} to {new_file}; nothing was saved (close {model} "
                                f"in Creo without saving)")
            try:
                client.call("file", "save", {"file": renamed})
            except CreoError as e:
                raise CreoError(f"{e}; {renamed} is open in Creo but not saved") from None
            model, saved = renamed, True
        client.call("file", "display", {"file": model, "activate": True})
        return {"backend": "creo", "model": model, "saved": saved, "parameters": len(p["parameters"]),
                "dimensions": len(p["dimensions"]), "suppressed": p["suppress"],
                "commands": [f"{c}.{f}" for c, f in client.log]}


class CreoInstancer:
    """Builds parameter sets of a genome in Creo, for adaptation of a part only Creo rebuilds:
    each call sets the parameters and dimensions, regenerates, exports STEP and reads it back
    (trimesh, mm). On leaving, the base model is restored to what it was and regenerated; Creo's
    file on disk is never written. Use as `with CreoInstancer(genome, bridge_settings) as build:`."""

    def __init__(self, genome: dict, bridge, work_dir: str | None = None, timeout_s: float = 120.0):
        import tempfile

        self.genome, self.plan = genome, plan(genome)
        self.bridge, self.timeout_s = bridge, timeout_s
        self.work_dir = work_dir or tempfile.mkdtemp(prefix="cadfinder_creo_adapt_")
        self.builds = 0

    def __enter__(self):
        b = self.bridge
        self._session = creo_session(b.creoson_url, b.creo_start_command, b.creo_working_dir, b.creo_version,
                                     self.timeout_s)
        self.client = self._session.__enter__()
        self.client.call("file", "open", _open_args(self.genome["creo"], self.plan["model"]))
        self.snapshot = _snapshot(self.client, self.plan["model"], self.plan)
        return self

    def __exit__(self, *exc):
        try:
            _restore(self.client, self.plan["model"], self.plan, self.snapshot)
        finally:
            self._session.__exit__(*exc)

    def __call__(self, genome: dict):
        from cadfinder.errors import GenomeError
        from cadfinder.geometry.readers import read_mesh

        p, model = plan(genome), self.plan["model"]
        try:
            _set_values(self.client, model, p["parameters"], p["dimensions"])
            self.client.call("file", "regenerate", {"file": model})
        except CreoError as e:
            raise GenomeError(f"Creo could not build this parameter set: {e}") from None
        self.builds += 1
        name = f"adapt_{self.builds:04d}.stp"
        out = self.client.call("interface", "export_file", {"file": model, "type": "STEP",
                                                             "dirname": self.work_dir, "filename": name})
        path = os.path.join(out.get("dirname") or self.work_dir, out.get("filename") or name)
        if not os.path.exists(path):
            raise CreoError(f"Creo exported {model} to {path}, which this machine cannot read: set a folder both "
                            "see as the Creo export folder (Settings > Creo bridge)")
        try:
            return read_mesh(path).mesh  # Creo's own export: read in this process (150 reads, no child each)
        finally:
            os.remove(path)
