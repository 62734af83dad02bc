"""Sharded gallery: the same candidate lists from one gallery, from in-process shards, from shard worker
processes and from Ray actors (a local Ray instance with two shard actors)."""

from __future__ import annotations

import numpy as np
import pytest

from crms.fingerprint import gallery as G
from crms.fingerprint import shards as SH
from crms.fingerprint import synthetic_templates as S


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(17)
    masters = [[S.master(rng) for _ in range(10)] for _ in range(30)]
    items = [(p * 100 + f, p + 1, f + 1, masters[p][f]) for p in range(30) for f in range(10)]
    searches = [
        [G.ProbeFinger(S.impression(masters[p][f], rng), pos, f"p{p}f{f}")]
        for p, f, pos in [(3, 2, 3), (17, 9, 0), (29, 0, 1)]
    ] + [[G.ProbeFinger(S.impression(masters[11][f], rng), f + 1, f"t{f}") for f in range(10)]]
    return items, searches


def lists(g, searches):
    out = []
    for probes in searches:
        r = g.search(probes, top=8, survivors=12)
        out.append(
            [(c.person, c.score, [(f["finger_id"], f["score"]) for f in c.fingers]) for c in r.candidates]
        )
    return out


def test_local_and_process_shards_answer_like_one_gallery(data):
    items, searches = data
    one = G.Gallery()
    one.insert_many(items)
    expected = lists(one, searches)
    assert expected[0][0][0] == 4 and expected[3][0][0] == 12
    local = SH.ShardedGallery(3, "local")
    local.insert_many(items)
    assert len(local) == 300 and local.persons == 30
    assert lists(local, searches) == expected
    procs = SH.ShardedGallery(2, "process")
    try:
        procs.insert_many(items)
        assert lists(procs, searches) == expected
        # incremental updates reach the right shard
        assert procs.move_person(4, 5) == 10 and one.move_person(4, 5) == 10
        assert procs.delete(1105) and one.delete(1105)
        assert lists(procs, searches) == lists(one, searches)
        with pytest.raises(G.GalleryError):
            procs.insert_many([(9999, 1, 11, items[0][3])])
        assert len(procs) == len(one)
    finally:
        procs.close()


def test_ray_shard_actors_answer_like_one_gallery(data, monkeypatch):
    ray = pytest.importorskip("ray", reason="the 'cluster' extra (Ray) is not installed")
    items, searches = data
    one = G.Gallery()
    one.insert_many(items)
    expected = lists(one, searches)
    monkeypatch.setenv("CRMS_CLUSTER", "ray")
    monkeypatch.setenv("CRMS_GALLERY_SHARDS", "2")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        g = SH.from_environment()
        assert isinstance(g, SH.ShardedGallery) and g.backend == "ray" and g.n == 2
        g.insert_many(items)
        assert lists(g, searches) == expected
        snapshot = g.snapshot_bytes("state 7")  # each actor's part, loaded back by new actors
        g.close()
        h = SH.from_environment()
        assert h.load_snapshot(snapshot) == ("state 7", "ok")
        assert lists(h, searches) == expected and h.checksum() == one.checksum()
        h.close()
    finally:
        ray.shutdown()
