"""Why two synthetic fingers score as they do against each other: impostor scores of the generator as it
is and with one of its individual variations taken out.

N masters (seed 2026, growth iterations as the demo grows them), impressions 0 and 1 of each, templates by
the project's extractor, scores by its matcher. Impostors: impression 0 of every pair of different
masters, split into pairs of the same pattern class and of different classes; genuine: impression 0
against 1. Variants (module settings of ``crms.fingerprint.synthesis``, set in each worker):

  as is                  the generator's settings
  no bends               fields.BENDS = ()              (no smooth random fields added to the flow)
  no period scale        fields.PERIOD_SCALE = (1, 1)   (no ridge-breadth factor per finger)
  neither                both of the above
  weak corrections       fields.CORRECTION_SD = 0.12    (Vizcaya-Gerhardt knots bent less)
  coarse bends           fields.BENDS = ((4, 0.3),)     (the coarse bends only, not the finer ones)
  coarse bends 0.45      fields.BENDS = ((4, 0.45),)
  coarse bends at two scales  fields.BENDS = ((4, 0.3), (2, 0.3))
  pairs removed within 8 / 16 periods   the master's minutiae of opposite winding up to 8 or 16 ridge
                         periods apart removed in pairs, nearest first (bench/_phase_defects.py)
  difficulty 0.2 / 0.4   impressions drawn more worn, pressed and noisy (render_impression's difficulty;
                         the demo draws its prints at 0.4)

  .venv/bin/python bench/synth_impostors.py [--masters 150] [--variants "as is,no bends"] [--processes 2]
"""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np
from _synth import hull_density, variant_args  # bench/ is on sys.path when run as a script

VARIANTS: dict[str, dict[str, object]] = {
    "as is": {},
    "no bends": {"BENDS": ()},
    "no period scale": {"PERIOD_SCALE": (1.0, 1.0)},
    "neither": {"BENDS": (), "PERIOD_SCALE": (1.0, 1.0)},
    "weak corrections": {"CORRECTION_SD": 0.12},
    "coarse bends": {"BENDS": ((4, 0.3),)},
    "coarse bends 0.45": {"BENDS": ((4, 0.45),)},
    "coarse bends at two scales": {"BENDS": ((4, 0.3), (2, 0.3))},
    "pairs removed within 8 periods": {"annihilate": 8.0},
    "pairs removed within 16 periods": {"annihilate": 16.0},
    "difficulty 0.2": {"difficulty": 0.2},
    "difficulty 0.4": {"difficulty": 0.4},
}
SEED = 2026


def _templates(job: tuple[int, dict[str, object]]) -> tuple[str, list[bytes]]:
    index, settings = job
    from crms.demo.builder import DEMO_GROWTH_ITERATIONS
    from crms.fingerprint.extract import extract
    from crms.fingerprint.images import FingerImage
    from crms.fingerprint.serialise import dumps
    from crms.fingerprint.synthesis import fields, generate_master, render_impression

    settings = dict(settings)
    annihilate = settings.pop("annihilate", None)
    difficulty = settings.pop("difficulty", 0.0)
    for name, value in settings.items():
        setattr(fields, name, value)
    master = generate_master(SEED, index, iterations=DEMO_GROWTH_ITERATIONS)
    if annihilate is not None:
        from _phase_defects import annihilated_master

        master = annihilated_master(master, float(annihilate))
    out = []
    for k in (0, 1):
        pixels = render_impression(master, k, difficulty=difficulty)
        img = FingerImage(pixels, 500.0, "caller", (pixels.shape[1], pixels.shape[0]), "raw")
        out.append(dumps(extract(img).template))
    return master.fp_class, out


def measure(masters: int, settings: dict[str, object], processes: int) -> dict[str, float]:
    from crms.fingerprint import matcher
    from crms.fingerprint.serialise import loads

    with mp.get_context("spawn").Pool(processes) as pool:
        made = pool.map(_templates, [(i, settings) for i in range(masters)])
    classes = [c for c, _ in made]
    first = [matcher.prepare(loads(t[0])) for _, t in made]
    second = [matcher.prepare(loads(t[1])) for _, t in made]
    genuine = np.array([matcher.score(a, b) for a, b in zip(first, second, strict=True)])
    same, other = [], []
    for i in range(masters - 1):
        for j, s in enumerate(matcher.score_many(first[i], first[i + 1 :]), start=i + 1):
            (same if classes[i] == classes[j] else other).append(float(s))
    both = np.array(same + other)
    density = [d for _, t in made if (d := hull_density(loads(t[0]).minutiae[:, :2])) is not None]
    return {
        "minutiae": float(np.mean([loads(t[0]).count for _, t in made])),
        "density": float(np.median(density)),
        "same_class_median": float(np.median(same)),
        "other_class_median": float(np.median(other)),
        "median": float(np.median(both)),
        "at_20": float((both >= 20).mean()),
        "at_30": float((both >= 30).mean()),
        "genuine_p10": float(np.percentile(genuine, 10)),
        "pairs": len(both),
        "same_class_pairs": len(same),
    }


def main() -> None:
    a, names = variant_args(__doc__, VARIANTS, masters=150)
    print(
        "| variant | minutiae | per 10k px² | impostor median (same class / other) | ≥ 20 | ≥ 30 "
        "| genuine p10 |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in names:
        t0 = time.time()
        r = measure(a.masters, VARIANTS[name], a.processes)
        print(
            f"| {name} | {r['minutiae']:.1f} | {r['density']:.1f} | {r['median']:.1f} "
            f"({r['same_class_median']:.1f} / "
            f"{r['other_class_median']:.1f}) | {100 * r['at_20']:.1f} % | {100 * r['at_30']:.2f} % | "
            f"{r['genuine_p10']:.0f} |",
            flush=True,
        )
        took = time.time() - t0
        print(f"  ({r['pairs']} impostor pairs, {r['same_class_pairs']} of one class; {took:.0f} s)")


if __name__ == "__main__":
    main()
