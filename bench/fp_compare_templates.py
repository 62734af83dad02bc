"""Compare two template caches of the 8 FVC B sets (bench/fp_cache_templates.py), print by print.

    .venv/bin/python bench/fp_compare_templates.py BEFORE_DIR AFTER_DIR [--tolerance 2]

Per set: templates bit-identical, minutiae per print before / after, the share of the before-minutiae
found after at the same pixel and within ``--tolerance`` px, and of those at the same pixel the share with
the same type and the largest direction change. Used to check that a change to the extraction that is
meant to keep its output (a faster graph, a cropped network input) does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crms.fingerprint.serialise import load_template  # noqa: E402


def compare(a: np.ndarray, b: np.ndarray, tolerance: float) -> tuple[int, int, int, float]:
    """Of the minutiae of ``a`` (N, 5): how many ``b`` has at the same pixel, how many within
    ``tolerance`` px, how many of the same-pixel ones have the same type, and the largest direction
    change (radians) among the same-pixel ones."""
    if len(a) == 0 or len(b) == 0:
        return 0, 0, 0, 0.0
    d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    j = d.argmin(axis=1)
    nearest = d[np.arange(len(a)), j]
    same = nearest == 0
    turn = np.abs(np.angle(np.exp(1j * (a[same, 2] - b[j[same], 2]))))
    return (
        int(same.sum()),
        int((nearest <= tolerance).sum()),
        int((a[same, 3] == b[j[same], 3]).sum()),
        float(turn.max()) if turn.size else 0.0,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--tolerance", type=float, default=2.0)
    a = ap.parse_args()
    print(
        "| set | identical templates | minutiae before / after | same pixel | within tolerance "
        "| same type | largest direction change |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for folder in sorted(p for p in a.before.glob("*/DB*_B") if p.is_dir()):
        rel = folder.relative_to(a.before)
        ident = n = nb = na = same = near = typ = 0
        worst = 0.0
        for f in sorted(folder.glob("*.tpl")):
            g = a.after / rel / f.name
            if not g.exists():
                continue
            n += 1
            ident += f.read_bytes() == g.read_bytes()
            ta, tb = load_template(f).minutiae, load_template(g).minutiae
            nb, na = nb + len(ta), na + len(tb)
            c = compare(ta, tb, a.tolerance)
            same, near, typ, worst = same + c[0], near + c[1], typ + c[2], max(worst, c[3])
        if n:
            print(
                f"| {rel} | {ident}/{n} | {nb / n:.1f} / {na / n:.1f} | {100 * same / max(nb, 1):.1f} % "
                f"| {100 * near / max(nb, 1):.1f} % | {100 * typ / max(same, 1):.1f} % | {worst:.3f} rad |"
            )


if __name__ == "__main__":
    main()
