"""A protocol-faithful CREOSON test server: real HTTP on loopback, the documented request
envelope and argument names for the functions the bridge uses (and a few neighbours), model
state (parameters, dimensions, feature status, regenerations, files on "disk"), and injectable
errors (missing model, regeneration failure, locked file, Creo not running, slow replies).

Request:  {"sessionId": str, "command": str, "function": str, "data": {...}}
Reply:    {"status": {"error": bool, "message": str?}, "sessionId": str, "data": {...}?}
"""

from __future__ import annotations

import copy
import json
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
    ("connection", "start_creo"): ({"start_dir": STR, "start_command": STR}, {"retries": INT}),
    ("connection", "stop_creo"): ({}, {}),
    ("creo", "cd"): ({"dirname": STR}, {}),
    ("creo", "pwd"): ({}, {}),
    ("file", "open"): ({}, {"file": STR, "files": LIST, "dirname": STR, "generic": STR, "display": BOOL,
                            "activate": BOOL, "new_window": BOOL, "regen_force": BOOL}),
    ("file", "regenerate"): ({}, {"file": STR, "files": LIST, "display": BOOL}),
    ("file", "save"): ({}, {"file": STR, "files": LIST}),
    ("file", "rename"): ({"file": STR, "new_name": STR}, {"onlysession": BOOL}),
    ("file", "display"): ({"file": STR}, {"activate": BOOL}),
    ("file", "exists"): ({"file": STR}, {}),
    ("file", "erase"): ({}, {"file": STR, "files": LIST, "erase_children": BOOL}),
    ("file", "get_active"): ({}, {}),
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
NO_SESSION = {("connection", "connect"), ("connection", "is_creo_running"), ("connection", "start_creo")}
PARAM_TYPES = {"STRING", "DOUBLE", "INTEGER", "BOOL", "NOTE"}


@dataclass
class Model:
    name: str
    parameters: dict = field(default_factory=dict)  # NAME -> {"type", "value"}
    dimensions: dict = field(default_factory=dict)  # dN -> value
    features: dict = field(default_factory=dict)  # NAME -> "ACTIVE" | "SUPPRESSED"
    regenerations: int = 0


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
    if key == ("file", "open"):
        name = data.get("file", "").lower()
        if name not in st.session:
            if name not in st.disk:
                raise CreosonError(f"Could not open file: {name} (file not found in {st.cwd})")
            st.session[name] = copy.deepcopy(st.disk[name])
        if data.get("activate", True) or data.get("display", True):
            st.active = name
        return {"dirname": st.cwd, "files": [name], "revision": 1}
    if key == ("file", "exists"):
        return {"exists": data["file"].lower() in st.session}
    if key == ("file", "get_active"):
        return {"file": st.active, "dirname": st.cwd} if st.active else {}
    if key == ("file", "regenerate"):
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
        m = _model(st, data)
        if m.name.lower() in st.locked:
            raise CreosonError(f"Could not save {m.name}: file is read-only or locked")
        st.disk[m.name.lower()] = copy.deepcopy(m)
        return {}
    if key == ("file", "rename"):
        m = _model(st, data)
        new = data["new_name"].lower()
        if new in st.session:
            raise CreosonError(f"A model named {new} is already in session")
        del st.session[m.name.lower()]
        m.name = new
        st.session[new] = m
        if not data.get("onlysession"):
            st.disk[new] = copy.deepcopy(m)
        if st.active == data["file"].lower():
            st.active = new
        return {}
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
        return {"featlist": [{"name": n, "status": s, "type": "FEATURE", "feat_id": i}
                             for i, (n, s) in enumerate(m.features.items())]}
    if key in (("feature", "suppress"), ("feature", "resume")):
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
    return Model(creo["model_file"], params, dims, feats)
