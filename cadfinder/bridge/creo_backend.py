"""Open a genome in Creo Parametric over CREOSON: connect (start Creo if needed), open the base
model, set parameters and dimensions, suppress/resume features, regenerate, save under a new
part number when the genome was adapted, activate the window.

Nothing is left half-changed: values are snapshotted first and restored (with a regeneration)
when any later step fails; an adapted part is renamed in session before saving, so the base
model's file on disk is never overwritten.
"""

from __future__ import annotations

import ntpath
import posixpath

from cadfinder.bridge import safety
from cadfinder.bridge.creoson import CreoError, CreosonClient


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


def _ensure_creo(client: CreosonClient, start_command: str) -> None:
    if client.call("connection", "is_creo_running").get("running"):
        return
    if not start_command:
        raise CreoError("Creo is not running and no start command is set (Settings > Creo bridge)")
    flavour = ntpath if "\\" in start_command else posixpath
    start_dir, script = flavour.split(start_command)
    if script.lower() != safety.START_COMMAND:
        raise CreoError(f"CREOSON starts Creo only through {safety.START_COMMAND}, not {script!r}")
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


def _restore(client: CreosonClient, model: str, p: dict, snap: dict) -> None:
    for n in p["parameters"]:
        old = snap["parameters"][n]
        client.call("parameter", "set", {"file": model, "name": n, "type": old.get("type", "DOUBLE"),
                                         "value": old.get("value"), "no_create": True})
    for d in p["dimensions"]:
        client.call("dimension", "set", {"file": model, "name": d, "value": snap["dimensions"][d].get("value")})
    was_suppressed = [f for f in p["suppress"] + p["resume"] if snap["features"][f].get("status") == "SUPPRESSED"]
    was_active = [f for f in p["suppress"] + p["resume"] if f not in was_suppressed]
    if was_active:
        client.call("feature", "resume", {"file": model, "names": was_active, "with_children": True})
    if was_suppressed:
        client.call("feature", "suppress", {"file": model, "names": was_suppressed, "clip": False,
                                            "with_children": True})
    client.call("file", "regenerate", {"file": model})


def open_in_creo(genome: dict, url: str, start_command: str = "", working_dir: str = "",
                 new_part_number: str | None = None, timeout_s: float = 60.0) -> dict:
    """Drive Creo to the genome's state; returns what was done (model, saved, commands sent)."""
    p = plan(genome)
    new_file = f"{safety.part_number(new_part_number)}.prt" if new_part_number else None
    client = CreosonClient(url, timeout_s)
    client.connect()
    try:
        _ensure_creo(client, start_command)
        if working_dir:
            client.call("creo", "cd", {"dirname": working_dir})
        model = p["model"]
        client.call("file", "open", {"file": model, "display": True, "activate": True})
        snap = _snapshot(client, model, p)
        try:
            for n, (value, typ) in p["parameters"].items():
                client.call("parameter", "set", {"file": model, "name": n, "type": typ, "value": value,
                                                 "no_create": True})
            for d, value in p["dimensions"].items():
                client.call("dimension", "set", {"file": model, "name": d, "value": value})
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
            client.call("file", "rename", {"file": model, "new_name": new_file, "onlysession": True})
            try:
                client.call("file", "save", {"file": new_file})
            except CreoError as e:
                raise CreoError(f"{e}; {new_file} is open in Creo but not saved") from None
            model, saved = new_file, True
        client.call("file", "display", {"file": model, "activate": True})
        return {"backend": "creo", "model": model, "saved": saved, "parameters": len(p["parameters"]),
                "dimensions": len(p["dimensions"]), "suppressed": p["suppress"],
                "commands": [f"{c}.{f}" for c, f in client.log]}
    finally:
        client.disconnect()
