"""Captions for training and evaluating the text encoder, generated from a part's metadata.

Training and evaluation use disjoint phrasings: TRAIN_TEMPLATES / TRAIN_NAMES for training,
EVAL_TEMPLATES / EVAL_NAMES only for `cadfinder eval clip`, so the evaluation measures how the
model reads wordings it never saw.
"""

from __future__ import annotations

import numpy as np

from cadfinder.catalog import variety

# How designers name each family; the second list is held out for evaluation.
TRAIN_NAMES = {
    "bracket": ["angle bracket", "bracket", "L bracket", "mounting angle"],
    "flange": ["flange", "hub flange", "round flange", "bolted flange"],
    "shaft": ["shaft", "stepped shaft", "turned shaft", "axle"],
    "bushing": ["bushing", "bush", "sleeve bearing", "plain bearing"],
    "spur_gear": ["spur gear", "gear", "gear wheel", "involute gear"],
    "plate": ["plate", "mounting plate", "flat plate", "base plate"],
    "housing": ["housing", "enclosure", "box", "open box housing"],
    "pulley": ["pulley", "v-belt pulley", "sheave", "belt pulley"],
    "fastener": ["bolt", "hex bolt", "screw", "hexagon head bolt"],
    "profile": ["profile", "extrusion profile", "beam", "channel section"],
    "clamp": ["shaft collar", "clamp collar", "clamp", "split collar"],
    "hinge": ["hinge", "hinge leaf", "butt hinge", "door hinge"],
}
EVAL_NAMES = {
    "bracket": ["L-shaped bracket", "corner bracket"],
    "flange": ["pipe flange", "flange with a hub"],
    "shaft": ["drive shaft", "shaft with steps"],
    "bushing": ["flanged bushing", "bearing bush"],
    "spur_gear": ["toothed gear", "cog wheel gear"],
    "plate": ["rectangular plate", "plate with holes"],
    "housing": ["enclosure box", "electronics housing"],
    "pulley": ["grooved pulley", "belt sheave"],
    "fastener": ["hex head bolt", "machine bolt"],
    "profile": ["structural profile", "extruded beam"],
    "clamp": ["collar clamp", "shaft clamp collar"],
    "hinge": ["hinge with knuckles", "leaf hinge"],
}
# The variety catalog's kinds (catalog.variety.NAMES: training words, then evaluation words)
TRAIN_NAMES |= {kind: words[0] for kind, words in variety.NAMES.items()}
EVAL_NAMES |= {kind: words[1] for kind, words in variety.NAMES.items()}
TRAIN_TEMPLATES = [
    "{n}", "a {n}", "{n} in {m}", "{m} {n}", "{n} with {h} holes", "{n}, {L} mm", "{n} {L} x {W} mm",
    "{n} with {t} teeth", "{name}", "{desc}", "{n} made of {m}", "{n}, {L} x {W} x {H} mm", "a {m} {n} with {h} holes",
]
EVAL_TEMPLATES = [
    "looking for a {n}", "need a {n} in {m}", "{n} roughly {L} mm", "{m} {n}, about {L} mm long",
    "{n} having {h} holes", "show me {n}s", "{n} of {m}, {t} teeth",
]


def _fields(meta: dict, rng: np.random.Generator, names: dict) -> dict:
    fam = meta.get("family") or ""
    counts = meta.get("feature_counts") or {}
    size = sorted((np.asarray(meta.get("bbox_max", [0, 0, 0])) - np.asarray(meta.get("bbox_min", [0, 0, 0]))).tolist(),
                  reverse=True)
    pool = names.get(fam) or [fam.replace("_", " ") or "part"]
    return {"n": pool[int(rng.integers(len(pool)))], "m": meta.get("material") or "steel",
            "h": counts.get("holes"), "t": counts.get("teeth"),
            "L": f"{size[0]:.0f}", "W": f"{size[1]:.0f}", "H": f"{size[2]:.0f}",
            "name": meta.get("name") or "", "desc": meta.get("description") or ""}


def caption(meta: dict, rng: np.random.Generator, held_out: bool = False) -> str:
    """One caption for a part's sidecar metadata, from the training or the held-out phrasings."""
    names, templates = (EVAL_NAMES, EVAL_TEMPLATES) if held_out else (TRAIN_NAMES, TRAIN_TEMPLATES)
    f = _fields(meta, rng, names)
    usable = [t for t in templates
              if not ("{h}" in t and not f["h"]) and not ("{t}" in t and not f["t"])
              and not ("{name}" in t and not f["name"]) and not ("{desc}" in t and not f["desc"])]
    return usable[int(rng.integers(len(usable)))].format(**f)
