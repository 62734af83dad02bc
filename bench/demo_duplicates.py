"""The demo's duplicate queue: how many probable-duplicate cases a demo of N persons opens, which of them are
the planted duplicates (``crms.demo.builder.DEMO_DUPLICATE_OF``), and the minutiae and quality of its prints.

Builds the demo (seed 1, as ``crms demo`` does) in a new SQLite data dir, a temporary one unless
``--data-dir``, in this process with ``--jobs`` worker processes, then reads the queue and the fingerprint
rows. ``--difficulty D`` draws the prints at another difficulty than the demo's (``DEMO_DIFFICULTY``); the
worker processes would read the demo's own, so it needs ``--jobs 1``.

  .venv/bin/python bench/demo_duplicates.py [--people 45] [--jobs 2] [--difficulty D --jobs 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=45)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--difficulty", type=float)
    ap.add_argument("--data-dir", help="a new, empty folder (default: a temporary one)")
    a = ap.parse_args()
    if a.difficulty is not None and a.jobs != 1:
        raise SystemExit("--difficulty needs --jobs 1 (worker processes draw at the demo's own difficulty)")
    os.environ["CRMS_DATA_DIR"] = a.data_dir or tempfile.mkdtemp(prefix="crms-demo-duplicates-")

    from sqlalchemy import select

    from crms.access.work import open_database, set_up_new_database
    from crms.biometrics.models import DuplicateCase, Fingerprint
    from crms.config import get_settings
    from crms.demo import builder

    if a.difficulty is not None:
        builder.DEMO_DIFFICULTY = a.difficulty
    settings = get_settings()
    set_up_new_database(settings)
    db = open_database(settings)
    builder.build_demo(db, settings, people=a.people, jobs=a.jobs, mugshots=False)
    planted = set(builder.planted_duplicates(db, people=a.people))
    with db.transaction() as s:
        rows = s.scalars(select(DuplicateCase))
        cases = [(c.person_id, c.candidate_id, c.score, c.threshold) for c in rows]
        prints = [(f.minutiae, f.quality) for f in s.scalars(select(Fingerprint)) if f.minutiae is not None]
    found = [c for c in cases if (c[0], c[1]) in planted or (c[1], c[0]) in planted]
    false = [c for c in cases if c not in found]
    per_person = Counter(p for c in false for p in c[:2])
    minutiae = np.array([m for m, _ in prints])
    quality = np.array([q for _, q in prints])
    difficulty = builder.DEMO_DIFFICULTY
    p10, p90 = np.percentile(minutiae, [10, 90])
    print(f"{a.people} persons, {len(prints)} prints at difficulty {difficulty}: ", end="")
    print(f"minutiae {minutiae.mean():.1f} (p10-p90 {p10:.0f}-{p90:.0f}), quality {quality.mean():.0f}")
    print(f"planted duplicates found: {len(found)} of {len(planted)}", end="")
    if found:
        print(f", scores {min(c[2] for c in found):.0f}-{max(c[2] for c in found):.0f}", end="")
    print()
    print(f"cases that are not duplicates: {len(false)}", end="")
    if false:
        print(
            f" among {len(per_person)} persons (at most {max(per_person.values())} a person),"
            f" scores {min(c[2] for c in false):.0f}-{max(c[2] for c in false):.0f}"
            f" against thresholds {min(c[3] for c in false):.0f}-{max(c[3] for c in false):.0f}",
            end="",
        )
    print()


if __name__ == "__main__":
    main()
