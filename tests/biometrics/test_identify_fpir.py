"""bench/identify_fpir.py: false hits of persons counted at the thresholds promising an FPIR, pairs filed
twice left out, and the estimate from single impostor scores against the model it is compared with."""

from __future__ import annotations

import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def fp(bench_script):
    return bench_script("identify_fpir")


def _persons(n: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = np.ones((n, n, 10))
    usable = np.ones((n, 10), bool)
    allowed = ~np.eye(n, dtype=bool)
    return scores, usable, allowed


def test_a_tenprint_false_hit_is_counted_once_and_not_where_the_pair_is_left_out(fp):
    scores, usable, allowed = _persons()
    scores[0, 1] = 20.0  # person 0's ten fingers against person 1's: a sum of 200
    out = fp.fpir_brute_force(scores, usable, allowed)
    assert [out["tenprint"][str(f)]["hits"] for f in fp.FPIRS] == [1, 1, 1]
    assert out["tenprint"]["0.01"]["measured"] == 0.25
    assert out["one_finger"]["0.01"]["hits"] == 0  # 20 is below one finger's threshold among 3 persons
    allowed[0, 1] = allowed[1, 0] = False  # the two filed as one person
    out = fp.fpir_brute_force(scores, usable, allowed)
    assert [out["tenprint"][str(f)]["hits"] for f in fp.FPIRS] == [0, 0, 0]


def test_one_finger_hits_follow_the_thresholds(fp):
    scores, usable, allowed = _persons()
    scores[2, 3, 4] = 30.0  # between the thresholds for 1 % (24.8) and 0.1 % (34.8) among 3 persons
    out = fp.fpir_brute_force(scores, usable, allowed)["one_finger"]
    assert out["0.001"]["threshold"] == pytest.approx(10 * math.log10(3 / 0.001), abs=0.05)
    assert [out[str(f)]["hits"] for f in fp.FPIRS] == [0, 1, 1]
    usable[2, 4] = False  # a finger that cannot be searched is no search
    out = fp.fpir_brute_force(scores, usable, allowed)["one_finger"]
    assert out["searches"] == 39 and out["0.1"]["hits"] == 0


def test_the_estimate_keeps_the_promise_for_model_scores_and_not_for_higher_ones(fp):
    model = np.random.default_rng(1).exponential(10 / math.log(10), 200_000)
    assert 0.07 < fp.estimated_fpir(model, 599, 0.1) < 0.13
    assert fp.estimated_fpir(model + 2.0, 599, 0.1) > 0.5  # two points more a finger: twenty a person


def test_the_gallerys_measured_impostors_raise_the_thresholds_counted(fp):
    from crms.fingerprint.impostors import ImpostorProfile

    scores, usable, allowed = _persons()
    scores[0, 1] = 12.0  # a sum of 120: above the model's thresholds among 3 persons
    high = ImpostorProfile(np.random.default_rng(0).exponential(10 / math.log(10), 5000) + 10)
    assert fp.fpir_brute_force(scores, usable, allowed)["tenprint"]["0.01"]["hits"] == 1
    assert fp.fpir_brute_force(scores, usable, allowed, high)["tenprint"]["0.01"]["hits"] == 0


def test_the_whole_report_runs_with_a_measured_profile(fp, tmp_path, monkeypatch):
    """main() end to end on a cache of twelve persons' ten fingers (enough pairs for the gallery to measure
    its impostors, so the measured profile is reported and searched with)."""
    import json
    import sys

    from crms.fingerprint import impostors
    from crms.fingerprint import synthetic_templates as S
    from crms.fingerprint.serialise import save_template

    cache = tmp_path / "synthetic-demo"
    cache.mkdir()
    rng = np.random.default_rng(8)
    for i in range(12):
        for p in range(1, 11):
            save_template(S.master(rng), cache / f"{i}_{p}.tpl")
    report = tmp_path / "report.json"
    argv = [str(tmp_path), "--synthetic", "12", "--processes", "1", "--json-out", str(report)]
    monkeypatch.setattr(sys, "argv", ["identify_fpir.py", *argv])
    fp.main()
    out = json.loads(report.read_text())
    profile = out["profile"]
    assert impostors.MIN_PAIRS <= profile["pairs"] <= impostors.PAIRS
    assert 0 <= profile["share_at_or_above_20"] <= profile["share_at_or_above_10"] <= 1
    assert out["subjects"] == 12 and out["search_measured"]["searches"] == 12
    assert set(out["brute_force_measured"]) == {"tenprint", "one_finger"}
