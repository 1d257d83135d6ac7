"""Signed distances against analytic solids, sampling, canonical frames, scan simulation."""

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from cadfinder.geometry import normalize, scan, sdf


def test_sphere_sdf_matches_analytic():
    mesh = trimesh.creation.icosphere(5, radius=0.6)
    pts = np.random.default_rng(0).uniform(-1, 1, (5000, 3))
    truth = np.linalg.norm(pts, axis=1) - 0.6
    got = sdf.signed_distance(mesh, pts)
    # The tessellated sphere lies inside the true one by at most its chordal error.
    assert np.abs(got - truth).max() < 2e-3
    assert np.all(np.sign(got[np.abs(truth) > 2e-3]) == np.sign(truth[np.abs(truth) > 2e-3]))


def box_sdf(p, half):
    q = np.abs(p) - half
    return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)


def test_box_sdf_is_exact():
    half = np.array([0.5, 0.3, 0.2])
    mesh = trimesh.creation.box(2 * half)
    pts = np.random.default_rng(1).uniform(-1, 1, (5000, 3))
    np.testing.assert_allclose(sdf.signed_distance(mesh, pts), box_sdf(pts, half), atol=1e-9)


def test_sign_survives_holes_in_the_mesh():
    mesh = trimesh.creation.icosphere(4, radius=0.5)
    keep = np.ones(len(mesh.faces), bool)
    keep[np.random.default_rng(2).choice(len(keep), len(keep) // 10, replace=False)] = False
    holey = trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False)
    pts = np.random.default_rng(3).uniform(-0.9, 0.9, (4000, 3))
    truth = np.linalg.norm(pts, axis=1) - 0.5
    far = np.abs(truth) > 0.03
    got = sdf.signed_distance(holey, pts)
    assert np.mean(np.sign(got[far]) == np.sign(truth[far])) > 0.999


def test_sampling_recipe_and_cache(tmp_path):
    half = np.array([0.6, 0.4, 0.05])  # a thin plate: thin-wall samples must appear
    mesh = trimesh.creation.box(2 * half)
    recipe = sdf.SamplingRecipe(total=20_000, surface=2000)
    s = sdf.sample_sdf(mesh, recipe, seed=0)
    assert s.points.shape == (20_000, 3) and s.sdf.shape == (20_000,)
    np.testing.assert_allclose(s.sdf, box_sdf(s.points.astype(float), half), atol=1e-5)
    assert np.mean(np.abs(s.sdf) < 0.05) > 0.6  # most samples near the surface, as DeepSDF wants
    assert (s.sdf < 0).mean() > 0.2
    # Feature samples concentrate at the 12 sharp edges.
    assert len(sdf.sharp_edges(mesh)) == 12
    np.testing.assert_allclose(np.linalg.norm(s.surface_normals, axis=1), 1, atol=1e-5)
    s.save(tmp_path / "s.npz")
    back = sdf.SdfSamples.load(tmp_path / "s.npz")
    assert np.abs(back.sdf - s.sdf).max() < 1e-3
    assert (tmp_path / "s.npz").stat().st_size < 20_000 * 4 * 4


def test_catalog_frame_round_trip():
    mesh = trimesh.creation.box((40.0, 20.0, 10.0))
    mesh.apply_translation([100, -5, 3])
    f = normalize.catalog_frame(mesh.vertices)
    c = f.to_canonical(mesh.vertices)
    assert np.linalg.norm(c, axis=1).max() == pytest.approx(1 / 1.03)
    np.testing.assert_allclose(f.to_mm(c), mesh.vertices, atol=1e-9)
    assert normalize.Frame.from_dict(f.as_dict()).scale == f.scale


def test_pca_frames_undo_a_random_pose():
    rng = np.random.default_rng(4)
    pts = rng.uniform(-1, 1, (4000, 3)) * [3.0, 1.5, 0.5]
    pts[:, 0] += 0.3 * pts[:, 0] ** 2  # skewed, so signs are decidable
    rot = Rotation.random(random_state=5).as_matrix()
    posed = pts @ rot.T * 7.0 + [10, 20, 30]
    a = normalize.pca_frames(pts)
    b = normalize.pca_frames(posed)
    assert len(b) == 4
    ca, cb = a[0].to_canonical(pts), b[0].to_canonical(posed)
    np.testing.assert_allclose(ca, cb, atol=1e-6)
    for f in b:
        assert np.linalg.det(f.rotation) == pytest.approx(1.0)


def test_scan_is_partial_noisy_and_posed():
    mesh = trimesh.creation.icosphere(4, radius=1.0)
    s = scan.simulate_scan(mesh, scan.ScanSettings(points=3000, noise=0.0, uneven=0.0, outliers=0.0), seed=1)
    # One view of a sphere sees one hemisphere: the visible normals face the scanner.
    d = s.view_dirs[0]
    assert np.mean(s.normals @ d < 0.1) > 0.98
    assert np.linalg.norm(s.points, axis=1) == pytest.approx(np.ones(3000), abs=0.03)
    noisy = scan.simulate_scan(mesh, scan.ScanSettings(points=3000, random_pose=True, scale_range=(2.0, 2.0)), seed=1)
    r = np.linalg.norm(noisy.points - noisy.translation, axis=1)
    assert np.median(r) == pytest.approx(2.0, rel=0.05) and r.std() > 0.005
    assert abs(np.linalg.det(noisy.rotation) - 1) < 1e-9


def test_scan_occludes_hidden_surfaces():
    # Two parallel plates seen from above: the lower plate's top face is hidden behind the upper one.
    top = trimesh.creation.box((1, 1, 0.1))
    top.apply_translation([0, 0, 1])
    bottom = trimesh.creation.box((1, 1, 0.1))
    both = trimesh.util.concatenate([top, bottom])
    pts, nrm = sdf.sample_surface(both, 50_000, np.random.default_rng(0))
    vis = scan.visible(pts, nrm, np.array([0, 0, -1.0]), 100)
    assert vis.sum() > 1000
    assert np.all(pts[vis][:, 2] > 0.5)


def test_scan_sees_steep_surfaces():
    # A plate tilted 60 degrees from the view: its top face is in plain sight (a point splat hid
    # about half of it behind its own neighbours).
    plate = trimesh.creation.box((1, 1, 0.05))
    plate.apply_transform(trimesh.transformations.rotation_matrix(np.radians(60), [1, 0, 0]))
    pts, nrm = sdf.sample_surface(plate, 4096, np.random.default_rng(0))
    view = np.array([0, 0, -1.0])
    top = nrm @ view < -0.3
    assert scan.visible(pts, nrm, view, 64)[top].mean() > 0.85
    # Several scanners at once give the masks one at a time would.
    views = np.random.default_rng(1).normal(size=(4, 3))
    assert (scan.visible(pts, nrm, views, 64) == np.stack([scan.visible(pts, nrm, v, 64) for v in views])).all()


def plate_with_boss(length: float = 1.6, thickness: float = 0.08) -> trimesh.Trimesh:
    """A flat plate with a boss standing on it off-centre."""
    return trimesh.util.concatenate([trimesh.creation.box((length, 1.0, thickness)),
                                     trimesh.creation.cylinder(0.15, 0.3).apply_translation([0.4, 0.2, 0.15])])


def test_candidate_fit_slides_a_scan_across_a_flat_face():
    """A one-view scan of a plate with a boss, started 0.15 off along the plate: the two-sided
    fit brings it back within 8 steps (point-to-point coverage pairs alone held it in place)."""
    from scipy.spatial import cKDTree

    from cadfinder.geometry import candidate_fit as cf

    part = plate_with_boss()
    pts, nrm = sdf.sample_surface(part, 4096, np.random.default_rng(0))
    tree = cKDTree(pts)
    s = scan.simulate_scan(part, scan.ScanSettings(points=3000, noise=0.002), seed=3)
    q = s.points[np.random.default_rng(0).permutation(len(s.points))[:1500]]
    start = cf.Starts(np.eye(3)[None], np.array([[0.15, -0.05, 0.0]]), np.array([1.0]))
    regs, _ = cf.fit(q[:400], cKDTree(q), tree, nrm, start, iterations=8)
    assert np.linalg.norm(regs[0].translation) < 0.02
    assert regs[0].scale == pytest.approx(1.0, abs=0.03)


def test_judge_tells_a_part_from_a_longer_sibling():
    """A one-view scan of a plate with a boss, judged at its fitted pose on the part and on the
    same design 25% longer (fitted as well as it goes): the sibling leaves its extra length bare."""
    from scipy.spatial import cKDTree

    from cadfinder.geometry import candidate_fit as cf

    s = scan.simulate_scan(plate_with_boss(1.6), scan.ScanSettings(points=3000), seed=3)
    q = s.points[np.random.default_rng(0).permutation(len(s.points))[:1500]]
    judged = []
    for length in (1.6, 2.0):
        pts, nrm = sdf.sample_surface(plate_with_boss(length), 4096, np.random.default_rng(0))
        tree = cKDTree(pts)
        regs, _ = cf.fit(q[:400], cKDTree(q), tree, nrm, cf.Starts(np.eye(3)[None], np.zeros((1, 3)),
                                                                 np.ones(1)), iterations=8)
        judged.append(cf.judge(cKDTree(s.points), regs[0], tree, nrm))
    assert judged[0] < 0.016  # about twice the scanner's noise (0.0076 along the ray)
    assert judged[1] > 1.15 * judged[0]


def test_a_thin_plate_fits_its_own_scan_better_than_a_thicker_sibling():
    """A plate 0.02 thick whose part sample is sparser than its thickness, scanned from above:
    judged at its true pose, the scan fits the plate better than the same outline 0.06 thick
    fitted as well as it goes. With nearest-sample matching it did not (0.0076 against 0.0062):
    a point on the top face often lay nearest a sample of the bottom face, which faces away from
    the scanner (candidate_fit.match)."""
    from scipy.spatial import cKDTree

    from cadfinder.geometry import candidate_fit as cf
    from cadfinder.geometry.denoise import denoise

    plate = trimesh.creation.box((1.6, 1.0, 0.02))
    (pts, nrm), thick = (sdf.sample_surface(trimesh.creation.box((1.6, 1.0, t)), 4096, np.random.default_rng(0))
                         for t in (0.02, 0.06))
    tree, thick_tree = cKDTree(pts), cKDTree(thick[0])
    true_pose = cf.Starts(np.eye(3)[None], np.zeros((1, 3)), np.ones(1))
    for seed in (0, 1, 3):
        q = denoise(scan.simulate_scan(plate, scan.ScanSettings(points=5000), seed=seed).points)
        q_tree = cKDTree(q)
        sibling, _ = cf.fit(q[:400], q_tree, thick_tree, thick[1], true_pose)
        assert (cf.judge(q_tree, true_pose.registrations()[0], tree, nrm)
                < 0.95 * cf.judge(q_tree, sibling[0], thick_tree, thick[1]))
    # Matching a point on the top face: the sample chosen faces the scanner.
    top = np.c_[np.random.default_rng(1).uniform((-0.7, -0.4), (0.7, 0.4), (500, 2)), np.full(500, 0.01)]
    _, idx, _ = cf.match(top, tree, nrm, 8, 0.05)
    assert (nrm[idx, 2] > 0.9).mean() > 0.97
    _, idx, _ = cf.match(top, tree, nrm, 1, 0.05)  # the nearest: top or bottom alike
    assert (nrm[idx, 2] > 0.9).mean() < 0.9


def test_denoise_halves_a_scans_noise_and_leaves_a_clean_sample():
    from cadfinder.geometry.denoise import denoise

    part = plate_with_boss(1.6)
    s = scan.simulate_scan(part, scan.ScanSettings(points=5000), seed=3)

    def error(p):
        return np.abs(trimesh.proximity.closest_point(part, p)[1]).mean()

    assert error(denoise(s.points)) < 0.55 * error(s.points)
    # A clean sample: flat faces and their sharp edges stay where they are, a curved face (the
    # boss) moves by no more than its sag across a neighbourhood.
    box = sdf.sample_surface(trimesh.creation.box((1.6, 1.0, 0.08)), 5000, np.random.default_rng(0))[0]
    assert np.abs(denoise(box) - box).max() < 1e-9
    clean = sdf.sample_surface(part, 5000, np.random.default_rng(0))[0]
    assert np.linalg.norm(denoise(clean) - clean, axis=1).max() < 0.01
    assert np.array_equal(denoise(clean[:10]), clean[:10])  # too few points for a plane: as is
    assert np.array_equal(denoise(np.zeros((50, 3))), np.zeros((50, 3)))  # degenerate: as is


def test_depth_starts_lift_a_scan_off_the_far_face_of_a_plate():
    """A one-view scan of a plate started a wall's thickness too deep: the fit settles on the far
    face (the side it then faces looks covered too), the depth starts bring it back on top."""
    from scipy.spatial import cKDTree

    from cadfinder.geometry import candidate_fit as cf

    part = plate_with_boss(thickness=0.1)
    pts, nrm = sdf.sample_surface(part, 4096, np.random.default_rng(0))
    tree = cKDTree(pts)
    s = scan.simulate_scan(part, scan.ScanSettings(points=3000, noise=0.002), seed=3)
    q = s.points[np.random.default_rng(0).permutation(len(s.points))[:1500]]
    q_tree, all_tree = cKDTree(q), cKDTree(s.points)
    start = cf.Starts(np.eye(3)[None], np.array([[0.0, 0.0, -0.1]]), np.array([1.0]))
    deep, _ = cf.fit(q[:400], q_tree, tree, nrm, start, iterations=8)
    assert deep[0].translation[2] == pytest.approx(-0.1, abs=0.02)
    starts = cf.depth_starts(deep[0], q[:400], tree, nrm, (0.02, 0.04, 0.06))
    assert len(starts.rot) == 6 and np.allclose(starts.scales, deep[0].scale)
    assert np.allclose(np.abs(starts.trans - deep[0].translation)[:, 2], [0.02, 0.02, 0.04, 0.04, 0.06, 0.06], atol=0.01)
    regs, cost = cf.fit(q[:120], q_tree, tree, nrm, starts, iterations=6, part_points=300)
    lifted = regs[int(np.argmin(cost))]
    assert abs(lifted.translation[2]) < 0.01
    assert cf.judge(all_tree, lifted, tree, nrm) < 0.5 * cf.judge(all_tree, deep[0], tree, nrm)
    # Distinct fits: the deep and the lifted pose are two, the same pose twice is one.
    picked = cf.distinct([deep[0], deep[0], lifted], np.array([0.1, 0.1, 0.05]), q[:400], 3)
    assert len(picked) == 2 and picked[0] is lifted and picked[1] is deep[0]


def test_flipped_starts_turn_a_fit_back_end_for_end():
    """A one-view scan of a plate with an off-centre boss, fitted turned half a turn about the
    plate's normal (the boss's scan lies on the bare plate, the plate's scan covers it): the
    fit stays there, and of the flipped starts one fits back to the true pose."""
    from scipy.spatial import cKDTree

    from cadfinder.geometry import candidate_fit as cf
    from cadfinder.geometry.normalize import pca_frames

    part = plate_with_boss()
    pts, nrm = sdf.sample_surface(part, 4096, np.random.default_rng(0))
    tree = cKDTree(pts)
    s = scan.simulate_scan(part, scan.ScanSettings(points=3000, noise=0.002), seed=3)
    q = s.points[np.random.default_rng(0).permutation(len(s.points))[:1500]]
    q_tree, all_tree = cKDTree(q), cKDTree(s.points)
    turned = cf.Starts(np.diag([-1.0, -1.0, 1.0])[None], np.zeros((1, 3)), np.ones(1))
    stuck, _ = cf.fit(q[:400], q_tree, tree, nrm, turned, iterations=8)
    assert abs(stuck[0].rotation[0, 0] + 1) < 0.05  # still turned
    starts = cf.flipped_starts(stuck[0], pca_frames(pts)[0])
    assert len(starts.rot) == 3 and np.allclose(starts.scales, stuck[0].scale)
    regs, cost = cf.fit(q[:400], q_tree, tree, nrm, starts, iterations=10)
    back = regs[int(np.argmin(cost))]
    truth = s.points  # catalog pose: the scan is in the part's own coordinates
    assert np.median(np.linalg.norm(back.apply(s.points) - truth, axis=1)) < 0.02
    assert cf.judge(all_tree, back, tree, nrm) < 0.5 * cf.judge(all_tree, stuck[0], tree, nrm)


def l_bracket() -> trimesh.Trimesh:
    """An asymmetric test part in a unit-sphere-ish frame: an L of two unequal plates and a boss."""
    a = trimesh.creation.box((1.2, 0.6, 0.1))
    b = trimesh.creation.box((0.1, 0.6, 0.7))
    b.apply_translation([0.55, 0, 0.4])
    c = trimesh.creation.cylinder(0.12, 0.3)
    c.apply_translation([-0.3, 0.1, 0.2])
    return trimesh.util.concatenate([a, b, c])


def test_scan_view_descriptor_ignores_pose_and_scale():
    from cadfinder.geometry import scan_views

    part = l_bracket()
    descs, frames = scan_views.part_views(part, n=12)
    assert descs.shape == (12, scan_views.DIM) and frames.shape == (12, 13)
    assert np.allclose(np.linalg.norm(descs, axis=1), 1, atol=1e-5)
    s = scan.simulate_scan(part, scan.ScanSettings(points=3000, noise=0.0, uneven=0.0, outliers=0.0), seed=2)
    rot = Rotation.random(random_state=5).as_matrix()
    moved = (s.points @ rot.T) * 37.0 + [100.0, -20.0, 5.0]
    q0, q1 = scan_views.query_descriptors(s.points), scan_views.query_descriptors(moved)
    # The same cloud in another pose and unit: one of the eight frames gives the same descriptor.
    assert (q1 @ q0[0]).max() > 0.97


def test_even_subsample_undoes_a_scans_uneven_density():
    from cadfinder.geometry import scan_views

    # A 2 x 1 sheet sampled ten times as densely on its left half as on its right, as a scanner
    # samples a surface facing it and one it grazes.
    rng = np.random.default_rng(0)
    left = rng.uniform([-1, -0.5], [0, 0.5], (20_000, 2))
    right = rng.uniform([0, -0.5], [1, 0.5], (2_000, 2))
    sheet = np.c_[np.r_[left, right], np.zeros(22_000)]
    random, even = scan_views.subsample(sheet), scan_views.even_subsample(sheet)
    assert random[:, 0].mean() < -0.35  # the dense half dominates
    assert abs(even[:, 0].mean()) < 0.05 and 1300 <= len(even) <= 1500
    assert len(scan_views.even_subsample(sheet[:900])) == 900  # fewer than asked: all of them
    assert len(scan_views.even_subsample(np.zeros((3000, 3)))) == 1500  # degenerate: still n


def test_candidate_fit_recovers_a_one_view_scan_pose():
    from cadfinder.geometry import candidate_fit as cf
    from cadfinder.geometry import scan_views
    from cadfinder.geometry.nearest import NearestTree

    part = l_bracket()
    pts, nrm = sdf.sample_surface(part, 4096, np.random.default_rng(0))
    tree = NearestTree(pts)
    descs, frames = scan_views.part_views(part)
    s = scan.simulate_scan(part, scan.ScanSettings(points=3000, random_pose=True, scale_range=(0.2, 0.2)), seed=4)
    q = scan_views.subsample(s.points)
    qd, qf = scan_views.query_descriptors(s.points), scan_views.query_frames(s.points)
    sims = descs @ qd.T
    view, variant = np.unravel_index(np.argmax(sims), sims.shape)
    fv = scan_views.frame_from_array(frames[view])
    starts = cf.frame_pair_starts(qf[variant], fv, [fv.scale / qf[variant].scale * m for m in (0.95, 1.05)],
                                  matched_axes=True)
    kept, _ = cf.screen(q[:120], tree, nrm, starts)
    regs, cost = cf.fit(q[:400], NearestTree(q), tree, nrm, kept)
    best = regs[int(np.argmin(cost))]
    # Ground truth: the part's points are (scan - t) / s @ R.
    truth = ((s.points - s.translation) / s.scale) @ s.rotation
    fitted = best.apply(s.points)
    assert np.median(np.linalg.norm(fitted - truth, axis=1)) < 0.03
    assert best.scale == pytest.approx(1 / s.scale, rel=0.05)
    assert cost.min() < 0.03  # fit + missing coverage, unit-sphere units


def test_a_quick_judgement_estimates_the_full_one():
    """The judge's scan-to-part term on a random fifth of the scan: the same judgement on all
    the points given as the few, and within a few percent of it on a fifth."""
    from cadfinder.geometry import candidate_fit as cf
    from cadfinder.geometry import scan_views
    from cadfinder.geometry.nearest import NearestTree
    from cadfinder.geometry.normalize import Registration

    part = plate_with_boss(1.6)
    s = scan.simulate_scan(part, scan.ScanSettings(points=5000), seed=2)
    pts, nrm = sdf.sample_surface(part, 4096, np.random.default_rng(0))
    tree, query_tree = NearestTree(pts), NearestTree(s.points)
    reg = Registration(np.eye(3), 1.0, np.array([0.01, 0.0, 0.0]), 0.0)
    full = cf.judge(query_tree, reg, tree, nrm)
    assert cf.judge(query_tree, reg, tree, nrm, scan_points=s.points) == pytest.approx(full, rel=1e-12)
    few = scan_views.subsample(s.points, 1000, seed=1)
    assert cf.judge(query_tree, reg, tree, nrm, scan_points=few) == pytest.approx(full, rel=0.05)


def test_the_look_up_table_finds_a_sample_next_to_the_nearest():
    """The screen's approximate nearest samples: near the surface within about a cell of the
    true nearest, far from it (beyond the table too) a real sample about as far; k = 1 only."""
    from cadfinder.geometry import nearest_grid
    from cadfinder.geometry.nearest import NearestTree

    pts, _ = sdf.sample_surface(l_bracket(), 4096, np.random.default_rng(0))
    tree = NearestTree(pts)
    grid = tree.grid
    assert tree.grid is grid  # made once, kept with the tree
    rng = np.random.default_rng(1)
    near = pts[rng.choice(len(pts), 2000)] + 0.02 * rng.normal(size=(2000, 3))
    far = rng.normal(size=(500, 3)) * 3.0
    for x, slack in ((near, 2 * nearest_grid.CELL), (far, 2 * nearest_grid.COARSE_CELL)):
        d_true, _ = tree.query(x)
        d, i = grid.query(x)
        assert np.allclose(d, np.linalg.norm(x - pts[i], axis=1))
        assert (d >= d_true - 1e-12).all() and (d - d_true <= slack).all()
    assert np.median(grid.query(near)[0] - tree.query(near)[0]) < 0.01
    with pytest.raises(ValueError):
        grid.query(near, k=2)
    # More points than int16 indices hold: the table's indices widen.
    many = rng.normal(size=(40_000, 3))
    many /= np.linalg.norm(many, axis=1, keepdims=True)
    d, i = NearestTree(many).grid.query(many)
    assert i.min() >= 0 and i.max() > np.iinfo(np.int16).max
    assert np.allclose(d, np.linalg.norm(many - many[i], axis=1)) and d.max() < np.sqrt(3) * nearest_grid.CELL
