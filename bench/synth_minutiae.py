"""How often a synthetic finger's ridges end or fork: the generator as it is, and with one setting changed.

N masters (seed 2026), impression 0 of each, templates by the project's extractor. For each variant:
minutiae a print, minutiae per 10,000 px² of their convex hull, the ridge period (the project's estimator)
and their product, minutiae per 10,000 px of ridge (a ridge's length per unit of area is about one over its
period; FVC's real DB1-DB3 B sets: 56-74, `synth_quality.py`). Variants (module settings of
``crms.fingerprint.synthesis``; ``iterations`` and ``gain`` of the ridge growth):

  as is                 the generator's settings, growth iterations as the demo grows them
  fewer seeds           master.SEEDS_PER_KPIXEL = 0.1, 30 iterations (grown over the finger)
  fewest seeds          master.SEEDS_PER_KPIXEL = 0.05, 40 iterations
  no period noise       fields.PERIOD_NOISE = 0
  no bends              fields.BENDS = ()
  weak corrections      fields.CORRECTION_SD = 0.12
  gain 2 after 12 / 20  grow_ridges(gain=2) after 12 or 20 iterations (4 as is)
  gain 8                grow_ridges(gain=8)
  the master itself     the master's clean ridge map instead of an impression (no skin, sensor or noise)
  the master after 30 / 50 iterations   the same, grown longer
  arches only, tented arches only, whorls only   every master of that pattern class (no singular point;
                        a core above a delta; two cores with a delta on each side)
  pairs removed within 8 / 16 periods   the master's minutiae of opposite winding up to 8 or 16 ridge
                        periods apart removed in pairs, nearest first (bench/_phase_defects.py)

  .venv/bin/python bench/synth_minutiae.py [--masters 20] [--variants "as is,no bends"] [--processes 2]
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
from _synth import hull_density, variant_args  # bench/ is on sys.path when run as a script

VARIANTS: dict[str, dict[str, object]] = {
    "as is": {},
    "fewer seeds": {"SEEDS_PER_KPIXEL": 0.1, "iterations": 30},
    "fewest seeds": {"SEEDS_PER_KPIXEL": 0.05, "iterations": 40},
    "no period noise": {"PERIOD_NOISE": 0.0},
    "no bends": {"BENDS": ()},
    "weak corrections": {"CORRECTION_SD": 0.12},
    "gain 2 after 12": {"gain": 2.0},
    "gain 2 after 20": {"gain": 2.0, "iterations": 20},
    "gain 8": {"gain": 8.0},
    "the master itself": {"clean": True},
    "the master after 30 iterations": {"clean": True, "iterations": 30},
    "the master after 50 iterations": {"clean": True, "iterations": 50},
    "arches only": {"fp_class": "arch"},
    "tented arches only": {"fp_class": "tented_arch"},
    "whorls only": {"fp_class": "whorl"},
    "pairs removed within 8 periods": {"annihilate": 8.0},
    "pairs removed within 16 periods": {"annihilate": 16.0},
}
SEED = 2026


def _layout(job: tuple[int, dict[str, object]]) -> tuple[int, float, float]:
    """(minutiae, per 10,000 px² of hull, ridge period) of impression 0 of master ``index``."""
    import functools

    from crms.demo.builder import DEMO_GROWTH_ITERATIONS
    from crms.fingerprint.extract import extract
    from crms.fingerprint.images import FingerImage, estimate_ridge_period
    from crms.fingerprint.synthesis import fields, master, render_impression
    from crms.fingerprint.synthesis.ridges import grow_ridges

    index, settings = job
    settings = dict(settings)
    iterations = int(settings.pop("iterations", DEMO_GROWTH_ITERATIONS))
    if "gain" in settings:
        master.grow_ridges = functools.partial(grow_ridges, gain=float(settings.pop("gain")))
    clean = bool(settings.pop("clean", False))
    fp_class = settings.pop("fp_class", None)
    annihilate = settings.pop("annihilate", None)
    for name, value in settings.items():
        setattr(master if hasattr(master, name) else fields, name, value)
    finger = master.generate_master(SEED, index, fp_class, iterations=iterations)
    if annihilate is not None:
        from _phase_defects import annihilated_master

        finger = annihilated_master(finger, float(annihilate))
    if clean:  # ridges dark on white, the finger's outline cut at half its mask
        pixels = ((1.0 - np.clip(finger.ridges, -1.0, 1.0)) * 127.5).astype(np.uint8)
        pixels[finger.mask < 0.5] = 255
    else:
        pixels = render_impression(finger, 0)
    img = FingerImage(pixels, 500.0, "caller", (pixels.shape[1], pixels.shape[0]), "raw")
    xy = extract(img).template.minutiae[:, :2]
    return len(xy), hull_density(xy) or 0.0, float(estimate_ridge_period(pixels))


def main() -> None:
    a, names = variant_args(__doc__, VARIANTS, masters=20)
    print("| variant | minutiae | per 10,000 px² of hull | ridge period, px | per 10,000 px of ridge |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        with mp.get_context("spawn").Pool(a.processes) as pool:  # fresh workers: settings do not leak
            rows = np.array(pool.map(_layout, [(i, VARIANTS[name]) for i in range(a.masters)]))
        count, density, period = np.median(rows, axis=0)
        print(f"| {name} | {count:.1f} | {density:.1f} | {period:.1f} | {density * period:.0f} |", flush=True)


if __name__ == "__main__":
    main()
