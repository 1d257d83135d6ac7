"""The duplicate analysis written out: CSV (one row per part) and a self-contained HTML report.

The HTML holds everything it shows (thumbnails inline as PNG data), so it can be mailed or
put on a share as one file.
"""

from __future__ import annotations

import base64
import csv
import html
import io

from cadfinder.duplicates import Analysis

THUMBNAILS = ("SELECT part_number, thumbnail_png FROM cad_models WHERE part_number = ANY(%s) "
              "AND thumbnail_png IS NOT NULL")  # the report's and the app's thumbnails
KIND_LABELS = {"same": "same shape", "scaled": "same shape, different size", "mirror": "mirror image"}
CSV_COLUMNS = ("group", "kinds", "part_number", "revision", "name", "family", "material", "mass_kg", "size_mm",
               "closest_distance", "differing_parameters")


def _closest(group, part_number: str) -> float | None:
    ds = [p.distance for p in group.pairs if part_number in (p.a, p.b)]
    return min(ds) if ds else None


def _differs(group, k: int) -> str:
    return "; ".join(f"{name}={values[k]}" for name, values in group.differing.items())


def to_csv(analysis: Analysis) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for g_no, g in enumerate(analysis.groups, 1):
        for k, m in enumerate(g.members):
            w.writerow([g_no, " + ".join(KIND_LABELS[x] for x in g.kinds), m.part_number, m.revision, m.name, m.family,
                        m.material, "" if m.mass_kg is None else f"{m.mass_kg:.4g}",
                        "" if m.size_mm is None else f"{m.size_mm:.4g}", _closest(g, m.part_number), _differs(g, k)])
    return buf.getvalue()


def to_html(analysis: Analysis, thumbnails: dict[str, bytes] | None = None, title: str = "Duplicate analysis") -> str:
    """The report: a summary, then each group as a row of cards (thumbnail, name, mass, material,
    size) over a table of the parameters that differ and the pairs found."""
    thumbnails = thumbnails or {}
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>"
           "body{font-family:sans-serif;margin:24px;color:#222} .group{border:1px solid #ccc;border-radius:6px;"
           "padding:12px;margin:16px 0} .cards{display:flex;flex-wrap:wrap;gap:12px} .card{width:180px;"
           "font-size:12px} .card img{width:160px;height:160px;border:1px solid #eee;background:#fff} "
           "table{border-collapse:collapse;font-size:12px;margin-top:8px} td,th{border:1px solid #ddd;padding:3px 6px}"
           " .kind{display:inline-block;background:#e8eef7;border-radius:4px;padding:1px 6px;margin-right:4px}"
           "</style></head><body>",
           f"<h1>{e(title)}</h1><p>{analysis.parts} parts analysed, {analysis.candidates} candidate pairs compared, "
           f"{len(analysis.groups)} groups of near-duplicates at mean surface distance &le; {analysis.threshold:g} "
           f"(RMS radii), in {analysis.seconds:.1f} s.</p>"]
    for g_no, g in enumerate(analysis.groups, 1):
        kinds = "".join(f"<span class='kind'>{e(KIND_LABELS[k])}</span>" for k in g.kinds)
        out.append(f"<div class='group'><h2>Group {g_no}: {len(g.members)} parts {kinds}</h2><div class='cards'>")
        for m in g.members:
            png = thumbnails.get(m.part_number)
            img = (f"<img alt='{e(m.part_number)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                   if png else "<div style='width:160px;height:160px;background:#f4f4f4'></div>")
            mass = "" if m.mass_kg is None else f"{m.mass_kg:.3g} kg"
            size = "" if m.size_mm is None else f"{m.size_mm:.4g} mm"
            out.append(f"<div class='card'>{img}<br><b>{e(m.part_number)}</b> rev {e(m.revision)}<br>{e(m.name)}<br>"
                       f"{e(m.material or '')} {mass} {size}</div>")
        out.append("</div>")
        if g.differing:
            out.append("<table><tr><th>differs</th>" + "".join(f"<th>{e(m.part_number)}</th>" for m in g.members)
                       + "</tr>")
            for name, values in g.differing.items():
                out.append(f"<tr><td>{e(name)}</td>" + "".join(f"<td>{e('' if v is None else str(v))}</td>"
                                                               for v in values) + "</tr>")
            out.append("</table>")
        out.append("<table><tr><th>pair</th><th>kind</th><th>distance</th><th>size ratio</th></tr>")
        for p in g.pairs:
            out.append(f"<tr><td>{e(p.a)} ~ {e(p.b)}</td><td>{e(KIND_LABELS[p.kind])}</td><td>{p.distance:.4f}</td>"
                       f"<td>{p.size_ratio:.3f}</td></tr>")
        out.append("</table></div>")
    out.append("</body></html>")
    return "\n".join(out)
