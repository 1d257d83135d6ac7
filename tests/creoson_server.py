"""A protocol-faithful CREOSON test server: real HTTP on loopback, the documented request
envelope and argument names for the functions the bridge and the Creo ingest use (and a few
neighbours), model state (parameters, dimensions, feature status, regenerations, family tables,
assemblies, files on "disk"), and injectable errors (missing model, regeneration failure, locked
file, Creo not running, slow replies, a Creo 7+ whose version was not set).

Argument and result names follow CREOSON's own help classes (SimplifiedLogic/creoson,
creoson-json .../json/help/JLJson*Help.java and the request/response constants): creo.list_files
takes `filename` and returns `filelist`; file.rename returns the new `file` (keeping the model's
type) and nothing when the new name is the old one; file.massprops returns `volume`, `mass`,
`density`, `surface_area`, `ctr_grav`; familytable.list returns `instances`; interface.export_file
takes `type`, `file`, `filename`, `dirname` and returns `dirname`, `filename`; bom.get_paths with
`paths` and `get_transforms` returns nested `children` with `file`, `seq_path`, `path` and a
`transform` of `origin`, `x_axis`, `y_axis`, `z_axis` points. The geometry a model exports is
built by the open kernel from a cadfinder genome its dimensions drive (test data only).

Request:  {"sessionId": str, "command": str, "function": str, "data": {...}}
Reply:    {"status": {"error": bool, "message": str?}, "sessionId": str, "data": {...}?}
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (command, function) -> (required args, optional args); arg -> accepted JSON types
STR, NUM, BOOL, INT, LIST, ANY = (str,), (int, float), (bool,), (int,), (list,), (str, int, float, bool)
SPEC = {
    ("connection", "connect"): ({}, {}),
    ("connection", "disconnect"): ({}, {}),
    ("connection", "is_creo_running"): ({}, {}),
    ("connection", "start_creo"): ({"start_dir": STR, "start_command": STR}, {"retries": INT, "use_desktop": BOOL}),
    ("connection", "stop_creo"): ({}, {}),
    ("creo", "cd"): ({"dirname": STR}, {}),
    ("creo", "pwd"): ({}, {}),
    ("creo", "list_files"): ({}, {"filename": STR}),
    ("creo", "set_creo_version"): ({"version": INT}, {}),
    ("file", "open"): ({}, {"file": STR, "files": LIST, "dirname": STR, "generic": STR, "display": BOOL,
                            "activate": BOOL, "new_window": BOOL, "regen_force": BOOL}),
    ("file", "regenerate"): ({}, {"file": STR, "files": LIST, "display": BOOL}),
    ("file", "save"): ({}, {"file": STR, "files": LIST}),
    ("file", "rename"): ({"file": STR, "new_name": STR}, {"onlysession": BOOL}),
    ("file", "display"): ({"file": STR}, {"activate": BOOL}),
    ("file", "exists"): ({"file": STR}, {}),
    ("file", "erase"): ({}, {"file": STR, "files": LIST, "erase_children": BOOL}),
    ("file", "get_active"): ({}, {}),
    ("file", "massprops"): ({}, {"file": STR}),
    ("file", "get_cur_material"): ({}, {"file": STR}),
    ("file", "get_length_units"): ({}, {"file": STR}),
    ("familytable", "list"): ({}, {"file": STR, "instance": STR}),
    ("interface", "export_file"): ({"type": STR}, {"file": STR, "filename": STR, "dirname": STR, "geom_flags": STR,
                                                   "advanced": BOOL}),
    ("bom", "get_paths"): ({}, {"file": STR, "paths": BOOL, "skeletons": BOOL, "top_level": BOOL,
                                "get_transforms": BOOL, "exclude_inactive": BOOL, "get_simpreps": BOOL}),
    ("parameter", "list"): ({}, {"file": STR, "name": STR, "names": LIST, "encoded": BOOL, "value": STR}),
    ("parameter", "set"): ({"name": STR}, {"file": STR, "files": LIST, "type": STR, "value": ANY,
                                           "encoded": BOOL, "designate": BOOL, "description": STR,
                                           "no_create": BOOL}),
    ("dimension", "list"): ({}, {"file": STR, "name": STR, "names": LIST, "dim_type": STR, "encoded": BOOL}),
    ("dimension", "set"): ({"name": STR, "value": ANY}, {"file": STR, "encoded": BOOL}),
    ("feature", "list"): ({}, {"file": STR, "name": STR, "names": LIST, "status": STR, "type": STR,
                               "no_datum": BOOL, "inc_unnamed": BOOL, "no_comp": BOOL, "param": STR}),
    ("feature", "suppress"): ({}, {"file": STR, "name": STR, "names": LIST, "status": STR, "type": STR,
                                   "clip": BOOL, "with_children": BOOL}),
    ("feature", "resume"): ({}, {"file": STR, "name": STR, "names": LIST, "status": STR, "type": STR,
                                 "with_children": BOOL}),
}
EXPORT_TYPES = {"STEP", "IGES", "VRML", "CATIA", "PV", "SAT", "DXF", "NEUTRAL"}
NO_SESSION = {("connection", "connect"), ("connection", "is_creo_running"), ("connection", "start_creo")}
PARAM_TYPES = {"STRING", "DOUBLE", "INTEGER", "BOOL", "NOTE"}


@dataclass
class Model:
    name: str
    parameters: dict = field(default_factory=dict)  # NAME -> {"type", "value"}
    dimensions: dict = field(default_factory=dict)  # dN -> value
    features: dict = field(default_factory=dict)  # NAME -> "ACTIVE" | "SUPPRESSED"
    regenerations: int = 0
    revision: int = 1
    units: str = "mm"
    material: str | None = None
    feature_types: dict = field(default_factory=dict)  # NAME -> Creo feature type (default PROTRUSION)
    instances: dict = field(default_factory=dict)  # family table: INSTANCE -> {"parameters": {N: v}, "dimensions": {dN: v}}
    shape: dict | None = None  # test data: a cadfinder genome plus "creo" mapping; its dimensions drive it
    components: list = field(default_factory=list)  # an assembly's: (model file, 4x4 transform as nested lists)
    broken: bool = False  # cannot be opened (a corrupt or missing file)


class CreoState:
    def __init__(self):
        self.running = True
        self.start_dirs_ok: set[str] = set()  # folders holding nitro_proe_remote.bat
        self.cwd = "C:/work"
        self.disk: dict[str, Model] = {}  # files in the working folder
        self.session: dict[str, Model] = {}  # models in Creo's memory
        self.active: str | None = None
        self.sessions: set[str] = set()
        self.locked: set[str] = set()  # files that cannot be saved (read-only / checked out elsewhere)
        self.fail_regen: set[str] = set()  # models whose regeneration fails once changed from their file
        self.delay: dict[tuple, float] = {}  # (command, function) -> seconds before answering
        self.crash: set[tuple] = set()  # (command, function) after which the server closes without answering
        self.version = 0  # the simulated Creo's major version (0: before 7)
        self.version_set: set[str] = set()  # sessions that called creo.set_creo_version
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def add_model(self, model: Model) -> None:
        self.disk[model.name.lower()] = model


class CreosonError(Exception):
    pass


def _check_args(key, data):
    required, optional = SPEC[key]
    for k, types in required.items():
        if k not in data:
            raise CreosonError(f"Missing required parameter: {k}")
        if not isinstance(data[k], types) or (types == NUM and isinstance(data[k], bool)):
            raise CreosonError(f"Invalid value for {k}: {data[k]!r}")
    for k, v in data.items():
        if k not in required and k not in optional:
            raise CreosonError(f"Unknown parameter: {k}")
        types = required.get(k) or optional.get(k)
        if not isinstance(v, types):
            raise CreosonError(f"Invalid value for {k}: {v!r}")


def _needs_version(st: CreoState, req: dict, what: str) -> None:
    if st.version >= 7 and req.get("sessionId") not in st.version_set:
        raise CreosonError(f"{what} failed: Creo {st.version} needs creo.set_creo_version first "
                           "(a deprecated config option was used)")


def _solid(model: Model):
    """The part's solid (a CadQuery shape, mm) from its shape genome with the current dimensions."""
    from cadfinder.genome.instantiate import instantiate

    g = copy.deepcopy(model.shape)
    for key, d in g["creo"]["dimensions"].items():
        g["parameters"][key]["value"] = model.dimensions[d]
        g["parameters"][key].pop("min", None), g["parameters"][key].pop("max", None)
    g.pop("creo")
    return instantiate(g).shape


def _placed(m: Model, st: CreoState):
    """A part's solid, or an assembly's components placed by their transforms (nested), as a
    CadQuery assembly."""
    import cadquery as cq
    import numpy as np
    from OCP.gp import gp_Trsf

    if not m.components:
        return _solid(m)
    asm = cq.Assembly(name=m.name.rsplit(".", 1)[0])
    for i, (child, t) in enumerate(m.components):
        trsf = gp_Trsf()
        trsf.SetValues(*np.asarray(t, float)[:3].ravel().tolist())
        asm.add(_placed(st.disk[child.lower()], st), name=f"{child.rsplit('.', 1)[0]}-{i + 1}", loc=cq.Location(trsf))
    return asm


def _export_step(m: Model, path: str, st: CreoState) -> None:
    """Write the model's geometry as STEP: a part from its shape genome with the current
    dimension values, an assembly from its components placed by their transforms."""
    import cadquery as cq

    shape = _placed(m, st)
    if m.components:
        shape.export(path, exportType="STEP")
    else:
        cq.exporters.export(cq.Workplane().add(shape), path, exportType="STEP")


def _bom_child(st: CreoState, name: str, seq: str, path: list, t, transforms: bool) -> dict:
    rec = {"file": name.upper(), "seq_path": seq}
    if path:
        rec["path"] = path
    if transforms and t is not None:
        rec["transform"] = {"origin": dict(zip("xyz", (t[0][3], t[1][3], t[2][3]))),
                            "x_axis": dict(zip("xyz", (t[0][0], t[1][0], t[2][0]))),
                            "y_axis": dict(zip("xyz", (t[0][1], t[1][1], t[2][1]))),
                            "z_axis": dict(zip("xyz", (t[0][2], t[1][2], t[2][2])))}
    m = st.disk.get(name.lower())
    if m is not None and m.components:
        rec["children"] = [_bom_child(st, c, f"{seq}.{i + 1}", path + [40 + i], ct, transforms)
                           for i, (c, ct) in enumerate(m.components)]
    return rec


def _model(st: CreoState, data: dict) -> Model:
    name = (data.get("file") or st.active or "").lower()
    if not name:
        raise CreosonError("No file specified and no active model")
    m = st.session.get(name)
    if m is None:
        raise CreosonError(f"Model not found in session: {name}")
    return m


def _names(data: dict) -> list[str]:
    if "names" in data:
        return list(data["names"])
    return [data["name"]] if "name" in data else []


def handle(st: CreoState, req: dict) -> dict:
    key = (req["command"], req["function"])
    data = req.get("data") or {}
    if key == ("connection", "connect"):
        sid = uuid.uuid4().hex[:16]
        st.sessions.add(sid)
        return {"__session": sid}
    if key == ("connection", "disconnect"):
        st.sessions.discard(req.get("sessionId"))
        return {}
    if key == ("connection", "is_creo_running"):
        return {"running": st.running}
    if key == ("connection", "start_creo"):
        if not data["start_dir"]:
            raise CreosonError("Must specify a startDir parameter")
        if data["start_command"] != "nitro_proe_remote.bat":
            raise CreosonError("You may only specify 'nitro_proe_remote.bat' for the startCommand parameter")
        if data["start_dir"] not in st.start_dirs_ok:
            raise CreosonError(f"Start script not found in {data['start_dir']}")
        st.running = True
        return {}
    if not st.running:
        raise CreosonError("No connection to Creo: Creo is not running")
    if key == ("creo", "cd"):
        st.cwd = data["dirname"]
        return {"dirname": st.cwd}
    if key == ("creo", "pwd"):
        return {"dirname": st.cwd}
    if key == ("creo", "set_creo_version"):
        st.version_set.add(req.get("sessionId"))
        return {}
    if key == ("creo", "list_files"):
        pattern = data.get("filename", "*")
        return {"filelist": [m.name for n, m in sorted(st.disk.items()) if fnmatch.fnmatch(n, pattern.lower())]}
    if key == ("file", "open"):
        name = data.get("file", "").lower()
        generic = data.get("generic", "").lower()
        if name not in st.session:
            stem = name.rsplit(".", 1)[0].upper()
            base = st.disk.get(f"{generic}.{name.rsplit('.', 1)[-1]}") if generic else None
            if base is not None and stem in base.instances:  # a family-table instance
                inst = copy.deepcopy(base)
                inst.name, inst.instances = name, {}
                row = base.instances[stem]
                for n, v in row.get("parameters", {}).items():
                    inst.parameters[n]["value"] = v
                inst.dimensions.update(row.get("dimensions", {}))
                st.session[name] = inst
            elif name not in st.disk or st.disk[name].broken:
                raise CreosonError(f"Could not open file: {name} (file not found in {st.cwd})")
            else:
                st.session[name] = copy.deepcopy(st.disk[name])
        if data.get("activate", True) or data.get("display", True):
            st.active = name
        return {"dirname": st.cwd, "files": [name], "revision": st.session[name].revision}
    if key == ("file", "exists"):
        return {"exists": data["file"].lower() in st.session}
    if key == ("file", "get_active"):
        return {"file": st.active, "dirname": st.cwd} if st.active else {}
    if key == ("file", "massprops"):
        m = _model(st, data)
        if m.shape is None:
            raise CreosonError(f"No mass properties for {m.name}")
        shape, density = _solid(m), 7.85e-6 if m.material else 1.0  # kg/mm^3 of steel; Creo's default 1
        c = shape.Center()
        return {"volume": shape.Volume(), "mass": shape.Volume() * density, "density": density,
                "surface_area": shape.Area(), "ctr_grav": {"x": c.x, "y": c.y, "z": c.z}}
    if key == ("file", "get_cur_material"):
        m = _model(st, data)
        return {"material": m.material} if m.material else {}
    if key == ("file", "get_length_units"):
        return {"units": _model(st, data).units}
    if key == ("familytable", "list"):
        m = _model(st, data)
        pattern = data.get("instance", "*")
        return {"instances": [n for n in m.instances if fnmatch.fnmatch(n, pattern.upper())]}
    if key == ("interface", "export_file"):
        m = _model(st, data)
        if data["type"] not in EXPORT_TYPES:
            raise CreosonError(f"Invalid type: {data['type']}")
        if m.shape is None and not m.components:
            raise CreosonError(f"Could not export {m.name}: no geometry")
        folder = data.get("dirname") or st.cwd
        filename = data.get("filename") or m.name.rsplit(".", 1)[0] + ".stp"
        os.makedirs(folder, exist_ok=True)
        _export_step(m, os.path.join(folder, filename), st)
        return {"dirname": folder, "filename": filename}
    if key == ("bom", "get_paths"):
        m = _model(st, data)
        if not m.components:
            raise CreosonError(f"{m.name} is not an assembly")
        root = _bom_child(st, m.name, "root", [], None, data.get("get_transforms", False))
        if not data.get("paths"):
            def drop(r):
                r.pop("path", None)
                for c in r.get("children", []):
                    drop(c)
            drop(root)
        return {"file": m.name.upper(), "children": root}
    if key == ("file", "regenerate"):
        _needs_version(st, req, "Regeneration")
        m = _model(st, data)
        bad = [d for d, v in m.dimensions.items() if not v > 0]
        disk = st.disk.get(m.name.lower())
        changed = disk is None or (m.parameters, m.dimensions, m.features) != (disk.parameters, disk.dimensions,
                                                                              disk.features)
        if (m.name.lower() in st.fail_regen and changed) or bad:
            raise CreosonError(f"Regeneration failed for {m.name}" + (f": {bad[0]} must be positive" if bad else ""))
        m.regenerations += 1
        return {}
    if key == ("file", "save"):
        if data.get("file") and data["file"].lower() not in st.session:
            return {}  # CREOSON saves nothing and reports no error for a model not in session
        m = _model(st, data)
        if m.name.lower() in st.locked:
            raise CreosonError(f"Could not save {m.name}: file is read-only or locked")
        st.disk[m.name.lower()] = copy.deepcopy(m)
        return {}
    if key == ("file", "rename"):
        m = _model(st, data)
        old_stem, ext = m.name.rsplit(".", 1)
        new_stem = data["new_name"].rsplit(".", 1)[0] if "." in data["new_name"] else data["new_name"]
        if new_stem == old_stem.upper() or new_stem == old_stem:  # CREOSON compares the names without types
            return {}
        new = f"{new_stem}.{ext}".lower()  # the model keeps its type
        if new in st.session:
            raise CreosonError("Error renaming model; check to see there isn't another model in memory with "
                               "the same name.")
        del st.session[m.name.lower()]
        m.name = new
        st.session[new] = m
        if not data.get("onlysession"):
            st.disk[new] = copy.deepcopy(m)
        if st.active == data["file"].lower():
            st.active = new
        return {"file": new.upper()}
    if key == ("file", "display"):
        _model(st, data)
        if data.get("activate", True):
            st.active = data["file"].lower()
        return {}
    if key == ("file", "erase"):
        for n in ([data["file"]] if "file" in data else data.get("files", list(st.session))):
            st.session.pop(n.lower(), None)
        return {}
    if key == ("parameter", "list"):
        m = _model(st, data)
        return {"paramlist": [{"name": n, "type": p["type"], "value": p["value"], "owner_name": m.name}
                              for n, p in m.parameters.items()]}
    if key == ("parameter", "set"):
        m = _model(st, data)
        name = data["name"]
        if len(name) > 31:
            raise CreosonError(f"Parameter name {name} is too long (31 characters at most)")
        if name not in m.parameters and data.get("no_create"):
            raise CreosonError(f"Parameter {name} does not exist in {m.name}")
        typ = data.get("type", "STRING")
        if typ not in PARAM_TYPES:
            raise CreosonError(f"Invalid parameter type: {typ}")
        if typ in ("DOUBLE", "INTEGER") and not isinstance(data.get("value"), (int, float)):
            raise CreosonError(f"Invalid value for {typ} parameter {name}")
        m.parameters[name] = {"type": typ, "value": data.get("value")}
        return {}
    if key == ("dimension", "list"):
        m = _model(st, data)
        return {"dimlist": [{"name": d, "value": v, "encoded": False} for d, v in m.dimensions.items()]}
    if key == ("dimension", "set"):
        m = _model(st, data)
        if data["name"] not in m.dimensions:
            raise CreosonError(f"Dimension {data['name']} not found in {m.name}")
        if not isinstance(data["value"], (int, float)):
            raise CreosonError(f"Invalid dimension value {data['value']!r}")
        m.dimensions[data["name"]] = float(data["value"])
        return {}
    if key == ("feature", "list"):
        m = _model(st, data)
        return {"featlist": [{"name": n, "status": s, "type": m.feature_types.get(n, "PROTRUSION"), "feat_id": 40 + i,
                              "feat_number": i + 1} for i, (n, s) in enumerate(m.features.items())]}
    if key in (("feature", "suppress"), ("feature", "resume")):
        _needs_version(st, req, f"feature.{key[1]}")
        m = _model(st, data)
        for n in _names(data):
            if n not in m.features:
                raise CreosonError(f"Feature {n} not found in {m.name}")
            m.features[n] = "SUPPRESSED" if key[1] == "suppress" else "ACTIVE"
        return {}
    raise CreosonError(f"Unimplemented: {key}")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        st: CreoState = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        sid = ""
        try:
            try:
                req = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise CreosonError("Invalid JSON request") from None
            if not isinstance(req, dict) or not isinstance(req.get("command"), str) \
                    or not isinstance(req.get("function"), str):
                raise CreosonError("Request must have command and function")
            if set(req) - {"sessionId", "command", "function", "data"}:
                raise CreosonError(f"Unknown request fields: {sorted(set(req) - {'sessionId', 'command', 'function', 'data'})}")
            key = (req["command"], req["function"])
            if key not in SPEC:
                raise CreosonError(f"Invalid command/function: {key[0]}/{key[1]}")
            if "data" in req and not isinstance(req["data"], dict):
                raise CreosonError("data must be an object")
            sid = req.get("sessionId") or ""
            with st.lock:
                st.requests.append(req)
            if key not in NO_SESSION and sid not in st.sessions:
                raise CreosonError("Invalid session ID")
            _check_args(key, req.get("data") or {})
            if st.delay.get(key):
                time.sleep(st.delay[key])
            if key in st.crash:
                self.close_connection = True
                return  # no reply at all, as a CREOSON that died mid-request
            with st.lock:
                data = handle(st, req)
            sid = data.pop("__session", sid)
            reply = {"status": {"error": False}, "sessionId": sid}
            if data:
                reply["data"] = data
        except CreosonError as e:
            reply = {"status": {"error": True, "message": str(e)}, "sessionId": sid}
        body = json.dumps(reply).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left


class CreosonTestServer:
    """Start with `with CreosonTestServer() as srv:`; srv.url, srv.state."""

    def __init__(self):
        self.state = CreoState()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self.state
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/creoson"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def calls(self) -> list[str]:
        return [f"{r['command']}.{r['function']}" for r in self.state.requests]


def model_for(genome: dict, scale: float = 1.0) -> Model:
    """The Creo base model a genome maps to, with values differing from the genome's by `scale`."""
    creo = genome["creo"]
    params = {n: {"type": "INTEGER" if genome["parameters"][k].get("integer") else "DOUBLE",
                  "value": genome["parameters"][k]["value"] if genome["parameters"][k].get("integer")
                  else round(genome["parameters"][k]["value"] * scale, 3)}
              for k, n in creo["parameters"].items()}
    dims = {d: round(genome["parameters"][k]["value"] * scale, 3) for k, d in creo["dimensions"].items()}
    feats = {f["name"]: "ACTIVE" for f in creo["features"].values()}
    return Model(creo["model_file"], params, dims, feats, shape=genome)
