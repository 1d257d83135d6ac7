"""How well PCA pose/scale canonicalisation works on scans in unknown pose and scale.

    python bench/bench_canonical.py [--parts 48] [--seed 0]

For catalog parts (every family), each scan is put in a random pose and scale, then
canonicalised; the same is done with the complete part. Reported per scan kind:
  - rotation error of the skewness-chosen hypothesis and of the best of the 4, in degrees,
    measured as how far the canonical point sets are apart (a part symmetric about an axis has
    no wrong answer about that axis, so axis angles alone would overstate errors);
  - Chamfer distance between the canonical scan and the canonical complete part (unit sphere);
  - scale ratio (scan's scale estimate / true scale);
  - the same after trimmed similarity ICP from 24 PCA-based starts against the complete part
    (what the geometric re-rank does once a candidate part is known).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.spatial import cKDTree

from cadfinder.catalog import build, families
from cadfinder.genome.instantiate import instantiate
from cadfinder.geometry.normalize import pca_frames, register
from cadfinder.geometry.scan import ScanSettings, simulate_scan
from cadfinder.geometry.sdf import sample_surface

KINDS = {
    "complete, clean": None,
    "3 views, noisy": ScanSettings(points=5000, views=3, random_pose=True, scale_range=(0.2, 5)),
    "1 view, noisy (partial)": ScanSettings(points=5000, views=1, random_pose=True, scale_range=(0.2, 5)),
}


def one_sided_chamfer(a, b_tree):
    return float(b_tree.query(a)[0].mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    fam = build.FAMILY_ORDER
    rows = {k: [] for k in KINDS}
    for i in range(args.parts):
        rng = np.random.default_rng([args.seed, i])
        g, _, _ = families.generate(fam[i % len(fam)], rng)
        mesh = instantiate(g).mesh()
        full, _ = sample_surface(mesh, 5000, rng)
        ref = pca_frames(full)[0]
        ref_pts = ref.to_canonical(full)
        tree = cKDTree(ref_pts)
        for kind, settings in KINDS.items():
            if settings is None:
                from scipy.spatial.transform import Rotation

                rot = Rotation.random(random_state=i).as_matrix()
                scale, pts = 3.0, (full @ rot.T) * 3.0 + 7.0
            else:
                s = simulate_scan(mesh, settings, seed=1000 + i)
                rot, scale, pts = s.rotation, s.scale, s.points
            frames = pca_frames(pts)
            # Chamfer of the scan (one-sided: a partial scan only covers part of the shape).
            ch = [one_sided_chamfer(f.to_canonical(pts) * (f.scale / (ref.scale * scale)), tree) for f in frames]
            reg = register(pts, ref_pts, with_scale=True, seed=i)
            icp = one_sided_chamfer(reg.apply(pts[:2000]), tree)
            rows[kind].append((ch[0], min(ch), frames[0].scale / (ref.scale * scale), icp,
                               reg.scale * ref.scale * scale))
    print(f"{args.parts} parts, {len(fam)} families; Chamfer in unit-sphere units (0.02 ~ 1% of the part's size)")
    print("PCA alone (what a query gets before it knows the part), then trimmed ICP against the true part")
    print(f"{'scan kind':26s} {'PCA skew pick':>13s} {'PCA best of 4':>13s} {'<=0.05':>7s} "
          f"{'PCA scale ratio [p10,p90]':>26s} | {'ICP chamfer':>11s} {'<=0.03':>7s} {'ICP scale ratio':>16s}")
    for kind, r in rows.items():
        a = np.array(r)
        print(f"{kind:26s} {np.median(a[:, 0]):13.4f} {np.median(a[:, 1]):13.4f} {np.mean(a[:, 1] <= 0.05):7.2f} "
              f"{np.median(a[:, 2]):10.3f} [{np.quantile(a[:, 2], 0.1):.2f}, {np.quantile(a[:, 2], 0.9):.2f}]     | "
              f"{np.median(a[:, 3]):11.4f} {np.mean(a[:, 3] <= 0.03):7.2f} {np.median(a[:, 4]):16.3f}")


if __name__ == "__main__":
    main()
