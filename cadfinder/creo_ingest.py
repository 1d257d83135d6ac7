"""`cadfinder ingest --creo FOLDER_OR_PATTERN`: a Creo library through CREOSON.

For each model Creo lists (creo.list_files): file.open, parameter.list, dimension.list,
feature.list, file.get_length_units, file.get_cur_material, file.massprops and familytable.list
(each family-table instance becomes a part of its own, opened through its generic), then
interface.export_file to STEP in the export folder, with a JSON sidecar holding the genome Creo
described. The ordinary ingest then stores the exported geometry. Assemblies (.asm) follow their
parts: bom.get_paths with paths and transforms gives their direct components, which become
assembly_hierarchy rows.

The genome of a Creo model: its numeric parameters and model dimensions as named parameters
(bounds from the family table's range where the model has one, else DEFAULT_BAND times the
value), its features by name, id, type and status (type "creo": only Creo rebuilds them), units
and material from Creo, and the creo block the bridge needs to open and adapt it.

Resumable: a model whose (model file, Creo revision) is already stored (source_file
"creo:MODEL#REVISION") is not exported again;
an exported file already stored with the same content is skipped by the ingest. A model Creo
cannot open or export is reported; the rest go on.
"""

from __future__ import annotations

import json
import ntpath
import posixpath
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cadfinder.assemblies import Placement
from cadfinder.assembly_files import file_stem
from cadfinder.bridge.creoson import CreoError

DEFAULT_BAND = (0.5, 2.0)  # bounds of a parameter without a family-table range: value x these
PART_NUMBER_PARAMS = ("PART_NUMBER", "PARTNUMBER", "PART_NO")
NAME_PARAMS = ("PTC_COMMON_NAME", "NAME")
DESCRIPTION_PARAMS = ("DESCRIPTION", "DESC")
FAMILY_PARAMS = ("FAMILY", "CATEGORY")
UNITS = {"mm": "mm", "millimeter": "mm", "cm": "cm", "centimeter": "cm", "m": "m", "meter": "m",
         "in": "in", "inch": "in"}
MAX_FEATURES = 200  # the genome schema's limit; the rest stay in Creo
CREO_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,30}$")


@dataclass
class CreoModel:
    """What CREOSON told us about one model (a part, an instance or an assembly)."""
    file: str
    revision: int
    parameters: list = field(default_factory=list)  # {"name", "type", "value"}
    dimensions: list = field(default_factory=list)  # {"name", "value"}
    features: list = field(default_factory=list)  # {"name", "type", "status", "feat_id"}
    units: str = "mm"
    material: str | None = None
    generic: str | None = None  # the family table's generic, for an instance
    instances: list = field(default_factory=list)
    massprops: dict = field(default_factory=dict)  # Creo's volume, surface_area, mass, density (model units)

    @property
    def is_assembly(self) -> bool:
        return self.file.lower().endswith(".asm")

    def text(self, names: tuple) -> str | None:
        for p in self.parameters:
            if p.get("name", "").upper() in names and p.get("type") == "STRING" and str(p.get("value") or "").strip():
                return str(p["value"]).strip()
        return None

    @property
    def part_number(self) -> str:
        """A PART_NUMBER parameter, else the model's name; an instance is its own name (it
        inherits the generic's parameters)."""
        stem = self.file.rsplit(".", 1)[0].upper()
        return stem if self.generic else (self.text(PART_NUMBER_PARAMS) or stem)


def split_spec(spec: str) -> tuple[str | None, list[str]]:
    """(folder to cd into or None, file-name patterns): 'C:/plm/parts' -> all .prt and .asm there;
    'C:/plm/parts/brk*.prt' or 'brk*' -> those in that folder (or Creo's working folder)."""
    spec = spec.strip()
    flavour = ntpath if "\\" in spec else posixpath
    folder, last = flavour.split(spec.rstrip("/\\"))
    if any(c in last for c in "*?") or last.lower().endswith((".prt", ".asm")):
        return folder or None, [last]
    return spec or None, ["*.prt", "*.asm"]


def read_model(client, file: str, generic: str | None = None) -> CreoModel:
    """Open one model and read what the genome needs (CreoError when Creo refuses it)."""
    args = {"file": file, "display": False, "activate": False}
    if generic:
        args["generic"] = generic
    opened = client.call("file", "open", args)
    m = CreoModel(file=file, revision=int(opened.get("revision") or 0), generic=generic)
    m.parameters = client.call("parameter", "list", {"file": file}).get("paramlist", [])
    m.dimensions = [d for d in client.call("dimension", "list", {"file": file}).get("dimlist", [])
                    if not d.get("dwg_dim") and not d.get("encoded")]
    m.features = client.call("feature", "list", {"file": file}).get("featlist", [])
    m.units = str(client.call("file", "get_length_units", {"file": file}).get("units") or "mm")
    if not m.is_assembly:
        m.massprops = client.call("file", "massprops", {"file": file})  # refuses a model with no solid
        m.material = client.call("file", "get_cur_material", {"file": file}).get("material")
        if not generic:
            m.instances = client.call("familytable", "list", {"file": file}).get("instances", [])
    return m


def _key(name: str, taken: set) -> str:
    k = re.sub(r"[^a-z0-9_]", "_", name.lower()).strip("_")[:40] or "p"
    if not k[0].isalpha():
        k = ("p_" + k)[:40]
    base, i = k, 2
    while k in taken:
        k = f"{base[:36]}_{i}"
        i += 1
    taken.add(k)
    return k


def _numbers(m: CreoModel) -> list[tuple[str, str, float, bool]]:
    """(kind 'parameter' | 'dimension', Creo name, value, integer) of the numeric values."""
    out = []
    for p in m.parameters:
        if p.get("type") in ("DOUBLE", "INTEGER") and isinstance(p.get("value"), (int, float)):
            out.append(("parameter", p["name"], float(p["value"]), p["type"] == "INTEGER"))
    for d in m.dimensions:
        if isinstance(d.get("value"), (int, float)):
            out.append(("dimension", d["name"], float(d["value"]), False))
    return out


def ranges(models: list[CreoModel]) -> dict:
    """(kind, Creo name) -> (min, max) over a generic and its instances (a family table's range)."""
    out: dict = {}
    for m in models:
        for kind, name, v, _ in _numbers(m):
            lo, hi = out.get((kind, name), (v, v))
            out[(kind, name)] = (min(lo, v), max(hi, v))
    return out


def _bounds(v: float, rng: tuple | None, integer: bool) -> dict:
    if rng is not None and rng[0] < rng[1]:
        return {"min": rng[0], "max": rng[1]}
    if v == 0:
        return {}
    lo, hi = sorted((v * DEFAULT_BAND[0], v * DEFAULT_BAND[1]))
    if integer:
        lo, hi = min(int(v), round(lo)), max(int(v), round(hi))
    return {"min": lo, "max": hi}


def genome(m: CreoModel, family_ranges: dict | None = None) -> dict:
    """The genome Creo describes (validated by the caller)."""
    units = UNITS.get(m.units.strip().lower(), m.units)
    taken: set = set()
    params, creo_params, creo_dims = {}, {}, {}
    for kind, name, v, integer in _numbers(m):
        key = _key(name, taken)
        p = {"value": v, "unit": "count" if integer else units,
             **_bounds(v, (family_ranges or {}).get((kind, name)), integer),
             "description": f"Creo {kind} {name}"}
        if integer:
            p["integer"] = True
        params[key] = p
        if kind == "dimension":
            creo_dims[key] = name
        elif CREO_NAME.match(name.upper()):
            creo_params[key] = name.upper()
    features, creo_feats = [], {}
    for f in m.features[:MAX_FEATURES]:
        fid_num = int(f.get("feat_id") or 0)
        fid = f"F{fid_num}" if fid_num else f"F_{len(features)}"
        name = str(f.get("name") or "")
        features.append({"id": fid, "name": name[:80], "type": "creo",
                         "creo_type": re.sub(r"[^A-Z0-9_]", "_", str(f.get("type") or "FEATURE").upper())[:40]
                         or "FEATURE", "creo_id": fid_num,
                         "suppressed": "SUPPRESSED" in str(f.get("status") or "").upper()})
        if CREO_NAME.match(name.upper()) and fid_num >= 1:
            creo_feats[fid] = {"name": name.upper(), "id": fid_num}
    creo = {"model_file": m.file.lower(), "revision": m.revision, "parameters": creo_params,
            "dimensions": creo_dims, "features": creo_feats}
    if m.generic:
        creo["generic"] = m.generic
    family = re.sub(r"[^a-z0-9_]", "_", (m.text(FAMILY_PARAMS) or (m.generic or m.file.rsplit(".", 1)[0])).lower())
    g = {"schema": "cadfinder.genome/1", "family": (family if family[:1].isalpha() else "creo_" + family)[:40],
         "name": m.text(NAME_PARAMS) or m.part_number, "units": units, "parameters": params,
         "features": features, "creo": creo}
    if m.material:
        g["material"] = str(m.material)[:60]
    return g


def sidecar(m: CreoModel, family_ranges: dict | None = None) -> tuple[dict, list[str]]:
    """The ingest sidecar for an exported model, and warnings (a genome that does not validate
    is left out: the part is still searchable, but opens in Creo by hand)."""
    from cadfinder.genome.validate import validate

    g = genome(m, family_ranges)
    problems = validate(g)
    side = {"part_number": m.part_number, "name": g["name"], "description": m.text(DESCRIPTION_PARAMS) or "",
            "kind": "assembly" if m.is_assembly else "part", "creo_model": m.file.lower(), "revision": "A",
            "source": source(m.file, m.revision)}
    if m.material:
        side["material"] = m.material
    if m.massprops:
        side["creo_massprops"] = {k: m.massprops[k] for k in ("volume", "surface_area", "mass", "density")
                                  if isinstance(m.massprops.get(k), (int, float))}
    if m.text(FAMILY_PARAMS):
        side["family"] = m.text(FAMILY_PARAMS)
    warnings = []
    if problems:
        warnings.append(f"{m.file}: genome left out: {problems[0]}")
    else:
        side["genome"] = g
    return side, warnings


@dataclass
class Staged:
    """What the Creo pass produced for the ingest."""
    exported: int = 0
    skipped: int = 0
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    trees: list = field(default_factory=list)  # {"part_number", "placements"} per assembly
    part_numbers: dict = field(default_factory=dict)  # model file (lower case) -> part number
    files: list = field(default_factory=list)  # the STEP files exported in this pass
    seen: set = field(default_factory=set)  # models (lower case) this pass has read


def _export(client, m: CreoModel, out_dir: Path, side: dict) -> Path:
    stem = file_stem(side["part_number"])
    client.call("interface", "export_file", {"file": m.file, "type": "STEP", "dirname": str(out_dir),
                                             "filename": f"{stem}.stp"})
    if not (out_dir / f"{stem}.stp").exists():
        raise CreoError(f"Creo exported {m.file} but {out_dir / (stem + '.stp')} is not there: the export folder "
                        "must be one Creo and this machine both see (Settings > Creo bridge)")
    (out_dir / f"{stem}.json").write_text(json.dumps(side, sort_keys=True))
    return out_dir / f"{stem}.stp"


def _transform(t: dict | None) -> tuple:
    import numpy as np

    if not t:
        return tuple(np.eye(4).ravel().tolist())
    m = np.eye(4)
    for col, k in enumerate(("x_axis", "y_axis", "z_axis", "origin")):
        m[:3, col] = [float(t[k][a]) for a in "xyz"]
    return tuple(m.ravel().tolist())


def stage(client, spec: str, out_dir: Path, stored: dict, on_model=None, cancelled=None) -> Staged:
    """Read and export every model `spec` names into `out_dir`. `stored` maps (model file lower
    case, revision) -> part number of what the library already has. `on_model(done, total, name)`
    reports each model."""
    folder, patterns = split_spec(spec)
    if folder:
        before = client.call("creo", "pwd").get("dirname")
        client.call("creo", "cd", {"dirname": folder})
        try:
            return _stage_listed(client, patterns, out_dir, stored, on_model, cancelled)
        finally:
            if before:  # the designer's Creo keeps its working folder
                client.call("creo", "cd", {"dirname": before})
    return _stage_listed(client, patterns, out_dir, stored, on_model, cancelled)


def _stage_listed(client, patterns: list[str], out_dir: Path, stored: dict, on_model, cancelled) -> Staged:
    files: list[str] = []
    for pat in patterns:
        files += [f for f in client.call("creo", "list_files", {"filename": pat}).get("filelist", [])
                  if f.lower().endswith((".prt", ".asm")) and f not in files]
    files.sort(key=lambda f: (f.lower().endswith(".asm"), f.lower()))  # parts before assemblies
    st = Staged()
    st.part_numbers = {model: pn for (model, _), pn in stored.items()}
    for i, f in enumerate(files):
        if cancelled is not None and cancelled():
            break
        _stage_one(client, f, out_dir, stored, st)
        if on_model is not None:
            on_model(i + 1, len(files), f)
    return st


def _stage_one(client, file: str, out_dir: Path, stored: dict, st: Staged, depth: int = 0) -> str | None:
    """Stage one listed model (a part with its family-table instances, or an assembly with any
    component not staged yet); returns its part number, None when it failed."""
    if file.lower() in st.seen:  # a sub-assembly staged through its parent before its own turn
        return st.part_numbers.get(file.lower())
    st.seen.add(file.lower())
    try:
        m = read_model(client, file)
        group = [m]
        for inst in m.instances:
            group.append(read_model(client, f"{inst.lower()}.{file.rsplit('.', 1)[1].lower()}",
                                    generic=file.rsplit(".", 1)[0]))
        fam = ranges(group) if len(group) > 1 else None
        for x in group:
            key = (x.file.lower(), x.revision)
            if key in stored:
                st.skipped += 1
                st.part_numbers[x.file.lower()] = stored[key]
                continue
            tree = _tree(client, x, out_dir, stored, st, depth) if x.is_assembly else None
            side, warnings = sidecar(x, fam)
            st.files.append(_export(client, x, out_dir, side))
            if tree is not None:  # only once the assembly itself is exported
                st.trees.append(tree)
            st.warnings += warnings
            st.part_numbers[x.file.lower()] = side["part_number"]
            st.exported += 1
        return st.part_numbers.get(m.file.lower())
    except CreoError as e:
        st.errors.append(f"{file}: {e}")
        return None


def _tree(client, m: CreoModel, out_dir: Path, stored: dict, st: Staged, depth: int) -> dict:
    bom = client.call("bom", "get_paths", {"file": m.file, "paths": True, "get_transforms": True})
    placements = []
    for child in (bom.get("children") or {}).get("children", []):
        comp = str(child.get("file") or "").lower()
        pn = st.part_numbers.get(comp)
        if pn is None and depth < 20:
            pn = _stage_one(client, comp, out_dir, stored, st, depth + 1)
        if pn is None:
            raise CreoError(f"component {comp} of {m.file} could not be read")
        placements.append(Placement(pn, _transform(child.get("transform")), str(child.get("seq_path") or "")))
    return {"part_number": m.part_number, "placements": placements}


def source(file: str, revision: int) -> str:
    """What a part ingested from Creo records as its source: the model and Creo's revision."""
    return f"creo:{file.lower()}#{int(revision)}"


def stored_models(conn) -> dict:
    """(model file lower case, revision) -> part number, of the parts ingested from Creo."""
    rows = conn.execute("SELECT source_file, part_number FROM cad_models WHERE source_file LIKE 'creo:%'").fetchall()
    conn.commit()
    out = {}
    for src, pn in rows:
        model, _, rev = src[len("creo:"):].rpartition("#")
        if model and rev.isdigit():
            out[(model, int(rev))] = pn
    return out


def export_dir(settings) -> Path:
    """Where Creo writes the STEP files of a Creo ingest: the bridge setting, else the data folder."""
    from cadfinder.settings import data_dir

    return Path(settings.bridge.creo_export_dir or data_dir() / "creo_export")


def ingest_creo(conn, spec: str, bridge, weights_dir, export_dir: str | Path, progress: bool = True,
                on_progress=None, cancelled=None, **ingest_args):
    """Stage the Creo models `spec` names through CREOSON (settings `bridge`), then ingest them;
    returns the ingest's IngestSummary with the Creo pass's errors and skips added."""
    from tqdm import tqdm

    from cadfinder.bridge.creo_backend import creo_session
    from cadfinder.ingest import IngestSummary, ingest

    out_dir = Path(export_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(desc="creo", unit="model", disable=not progress, file=sys.stderr)

    def on_model(done, total, name):
        bar.total = total
        bar.update()
        if on_progress is not None:
            on_progress(done, total, f"Creo: {name}")

    with creo_session(bridge.creoson_url, bridge.creo_start_command, bridge.creo_working_dir,
                      bridge.creo_version) as client:
        st = stage(client, spec, out_dir, stored_models(conn), on_model, cancelled)
    bar.close()
    # (an assembly's tree exists only where the assembly itself was exported, so no files, no trees)
    if st.files and not (cancelled is not None and cancelled()):
        summary = ingest(conn, st.files, weights_dir, progress=progress, on_progress=on_progress,
                         cancelled=cancelled, trees=st.trees, **ingest_args)
    else:
        summary = IngestSummary(cancelled=bool(cancelled is not None and cancelled()))
    summary.skipped += st.skipped
    summary.failed += len(st.errors)
    summary.errors = st.errors + summary.errors
    summary.warnings = st.warnings + summary.warnings
    return summary
