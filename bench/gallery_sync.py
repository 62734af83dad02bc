"""What a search pays to bring the server's gallery in step with the table when nothing changed, on SQLite:
through the caller's pooled session, and through a read transaction on a connection of the store's own,
opened for each sync (``crms.biometrics.identification.store_for``: so that a search whose transaction
began before a change never takes the gallery back).

A temporary SQLite database with N/10 persons and ten synthetic fingers each (templates stored, status
enrolled an hour ago) is built, the gallery loaded once, then each way syncs R times (the census off: it runs
every 30 s, not per search); the median and 95th percentile per sync are printed, with the load average.

    nice -n 10 .venv/bin/python bench/gallery_sync.py --fingers 10000 --repeat 500
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crms.access.users import create_user, principal_for  # noqa: E402
from crms.biometrics import identification  # noqa: E402
from crms.biometrics.identification import GalleryStore  # noqa: E402
from crms.biometrics.models import Fingerprint  # noqa: E402
from crms.db import Database  # noqa: E402
from crms.fingerprint import synthetic_templates as S  # noqa: E402
from crms.fingerprint.serialise import dumps  # noqa: E402
from crms.records.reference import load_reference_data  # noqa: E402
from crms.records.services import register_person  # noqa: E402
from crms.timeutil import utcnow  # noqa: E402


def build(db: Database, fingers: int) -> None:
    rng = np.random.default_rng(7)
    with db.transaction() as s:
        op = principal_for(create_user(s, "bench_operator", "cro_operator", unit="BA"), channel="cli")
    data = {"given_name_en": "Bench", "parentage_relation": "s/o", "parentage_name_en": "Load", "gender": "M",
            "birth_year": 1980, "unit": "BA/QTA/QUETTA"}  # fmt: skip
    now = utcnow() - timedelta(hours=1)  # settled: a sync in step reads only rows changed after it
    with db.transaction() as s:
        for _ in range(fingers // 10):
            pid = register_person(s, op, data).person.id
            for position in range(1, 11):
                t = S.master(rng)
                s.add(Fingerprint(
                    person_id=pid, position=position, source="synthetic", image_ref=f"fp/b{pid}_{position}",
                    image_format="png", image_ppi=500, image_width=300, image_height=400,
                    image_sha256="0" * 64, status="enrolled", template=dumps(t), quality=60,
                    minutiae=t.count, extractor="bench", enrolled_at=now, captured_at=now, created_at=now,
                    updated_at=now, active=True,
                ))  # fmt: skip


def timed(store: GalleryStore, db: Database, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        with db.read_transaction() as s:
            store.sync(s)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fingers", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=500)
    args = ap.parse_args()
    identification.CENSUS_EVERY = timedelta(days=1)
    directory = Path(tempfile.mkdtemp(prefix="crms-gallery-sync-"))
    try:
        db = Database(f"sqlite:///{directory / 'sync.sqlite3'}")
        db.upgrade()
        with db.transaction() as s:
            load_reference_data(s)
        build(db, args.fingers)
        out: dict = {"fingers": args.fingers, "repeat": args.repeat}
        for label, reader in (("caller's pooled session", None), ("own connection per sync", True)):
            store = GalleryStore(reader=identification._own_reader(db) if reader else None)
            with db.read_transaction() as s:
                store.sync(s)
            timed(store, db, 20)  # warm
            ms = sorted(timed(store, db, args.repeat))
            out[label] = {"median_ms": round(statistics.median(ms), 3),
                          "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 3)}  # fmt: skip
        out["load_average"] = round(os.getloadavg()[0], 2)
        print(json.dumps(out))
        db.dispose()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
