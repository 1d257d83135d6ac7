"""Genome schema, validation messages, safe expressions, and instantiation with the open kernel."""

import copy
import json

import numpy as np
import pytest

from cadfinder.catalog import families
from cadfinder.errors import GenomeError
from cadfinder.genome import expressions
from cadfinder.genome.instantiate import instantiate, with_parameters
from cadfinder.genome.validate import check, feature_counts, validate


def plate_genome(**over):
    g, _, _ = families.generate("plate", np.random.default_rng(11))
    return with_parameters(g, **over) if over else g


def test_expressions_are_safe():
    assert expressions.evaluate("a / 2 + max(b, 3) * cos(0)", {"a": 4, "b": 1}) == 5
    assert expressions.evaluate(7, {}) == 7
    for evil in ["__import__('os').system('x')", "a.__class__", "[1,2]", "lambda: 1", "open('f')", "2 ** 999"]:
        with pytest.raises(expressions.ExpressionError):
            expressions.evaluate(evil, {"a": 1})
    with pytest.raises(expressions.ExpressionError, match="unknown parameter 'zz'"):
        expressions.evaluate("zz + 1", {})
    with pytest.raises(expressions.ExpressionError, match="division by zero"):
        expressions.evaluate("1 / (a - a)", {"a": 2})
    # Numbers out of range are the expression's error too, never an OverflowError or TypeError.
    for bad, why in [("1e300 ** 16", "overflows"), ("floor(1e308 * 10)", "floor"), ("round(a * 1e308 * 10)", "round"),
                     ("(0 - 8) ** 0.5", "no real value"), ("1e308 * 10", "not finite")]:
        with pytest.raises(expressions.ExpressionError, match=why):
            expressions.evaluate(bad, {"a": 2})


def test_validation_messages_are_precise():
    g = plate_genome()
    assert validate(g) == []
    bad = copy.deepcopy(g)
    bad["parameters"]["thickness"]["value"] = 99
    assert any("thickness: value 99 is above its maximum" in p for p in validate(bad))
    bad = copy.deepcopy(g)
    bad["features"][2]["diameter"] = "hole_dd * 2"
    assert any("features[2].diameter" in p and "hole_dd" in p for p in validate(bad))
    bad = copy.deepcopy(g)
    del bad["features"][0]["distance"]
    bad["features"][1]["edges"] = "|Z; rm -rf /"
    problems = validate(bad)
    assert any("features[1].edges" in p for p in problems)
    bad = copy.deepcopy(g)
    bad["creo"]["model_file"] = "../../etc/passwd.prt"
    assert any("creo.model_file" in p for p in validate(bad))
    bad = copy.deepcopy(g)
    bad["features"][0] = {"id": "F1", "type": "hole", "diameter": 5}
    assert validate(bad) == ["genome.features[0]: 'sketch' is a required property"]
    with pytest.raises(GenomeError, match="invalid genome"):
        check({"schema": "nope"})


def test_every_family_validates_and_instantiates():
    for fam in families.FAMILIES:
        g, name, desc = families.generate(fam, np.random.default_rng(5))
        assert validate(g) == [], fam
        inst = instantiate(g)
        mesh = inst.mesh()
        assert mesh.is_watertight, fam
        assert mesh.volume == pytest.approx(inst.volume_mm3, rel=0.02), fam
        json.dumps(g)  # plain JSON


def test_editing_a_parameter_changes_the_part():
    g = plate_genome()
    base = instantiate(g)
    t = g["parameters"]["thickness"]["value"]
    thicker = instantiate(with_parameters(g, thickness=t * 1.5))
    assert thicker.volume_mm3 > base.volume_mm3 * 1.3
    bigger_holes = instantiate(with_parameters(g, hole_d=g["parameters"]["hole_d"]["value"] * 1.2))
    assert bigger_holes.volume_mm3 < base.volume_mm3
    assert feature_counts(with_parameters(g, holes_x=5, holes_y=3))["holes"] == 15


def test_suppressed_features_are_skipped():
    g = plate_genome()
    holes = next(f for f in g["features"] if f["type"] == "hole")
    holes["suppressed"] = True
    assert "holes" not in feature_counts(g)
    assert instantiate(g).volume_mm3 > instantiate(plate_genome()).volume_mm3


def test_kernel_failures_name_the_feature():
    g = plate_genome()
    g["parameters"]["corner_r"]["max"] = 1000
    g["parameters"]["corner_r"]["value"] = 500  # a fillet larger than the plate
    with pytest.raises(GenomeError, match="F2"):
        instantiate(g)


def test_step_round_trip_keeps_the_volume(tmp_path):
    from cadfinder.geometry.readers import read_cad

    g, _, _ = families.generate("flange", np.random.default_rng(2))
    inst = instantiate(g)
    inst.export_step(tmp_path / "f.step")
    again = read_cad(tmp_path / "f.step")
    assert again.Volume() == pytest.approx(inst.volume_mm3, rel=1e-3)


def test_gear_has_its_teeth():
    g, _, _ = families.generate("spur_gear", np.random.default_rng(3))
    teeth = g["parameters"]["teeth"]["value"]
    assert feature_counts(g)["teeth"] == teeth
    mesh = instantiate(g).mesh()
    # Count teeth: angular peaks of the outline radius at mid-face height.
    z_mid = mesh.bounds[:, 2].mean()
    loops = mesh.section([0, 0, 1], [0, 0, z_mid]).discrete
    outline = max(loops, key=lambda lp: np.linalg.norm(lp[:, :2], axis=1).max())
    r = np.linalg.norm(outline[:, :2], axis=1)
    tip = r > r.max() - 0.5 * g["parameters"]["module"]["value"]
    rises = np.count_nonzero(tip & ~np.roll(tip, 1))
    assert rises == teeth


def test_absurd_values_are_refused_before_the_kernel_sees_them():
    """Found fuzzing: counts of 10^9 exhausted memory (a polygon of 10^9 sides aborts OpenCascade),
    NaN parameters, deep expressions and functions given the wrong number of arguments."""
    g = plate_genome()
    bad = copy.deepcopy(g)
    bad["parameters"]["thickness"] = {"value": float("nan"), "unit": "mm"}
    assert any("thickness: value nan is not a finite number" in p for p in validate(bad))
    bad = copy.deepcopy(g)
    bad["features"][2]["placement"]["pattern"]["nx"] = 1e9
    assert any("nx: 1e+09 is larger than 1e+06" in p for p in validate(bad))
    bad["features"][2]["placement"]["pattern"]["nx"] = 5000
    assert any("nx: 5000 is not a count from 1 to 1000" in p for p in validate(bad))
    bad = copy.deepcopy(g)
    bad["features"][2]["placement"]["pattern"]["nx"] = 100
    bad["features"][2]["placement"]["pattern"]["ny"] = 100
    assert any("places 10000 instances, more than 1000" in p for p in validate(bad))
    for expr, why in [("-" * 5000 + "1", "longer than"), ("abs(1, 2)", "cannot take 2"), ("round(1, 2.5)", "cannot take")]:
        with pytest.raises(expressions.ExpressionError, match=why):
            expressions.evaluate(expr, {})


def test_solids_the_kernel_calls_valid_but_are_not():
    """Found fuzzing: every feature suppressed; an outer diameter below the bore (an inside-out
    solid of negative volume); a wall of 1e-12 mm (no volume)."""
    g = plate_genome()
    none = copy.deepcopy(g)
    for f in none["features"]:
        f["suppressed"] = True
    with pytest.raises(GenomeError, match="every feature is suppressed"):
        instantiate(none)
    flat, _, _ = families.generate("profile", np.random.default_rng(3))
    flat["parameters"]["wall"] = {"value": 1e-12, "unit": "mm"}
    flat["features"][1]["suppressed"] = True
    with pytest.raises(GenomeError, match="no volume"):
        instantiate(flat)
    inside_out, _, _ = families.generate("bushing", np.random.default_rng(3))
    inside_out["parameters"]["outer_d"] = {"value": 2.5, "unit": "mm"}
    with pytest.raises(GenomeError, match="inside-out"):
        instantiate(inside_out)
