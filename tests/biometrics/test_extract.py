"""Extraction (pyfing GMFS + LEADER) and quality: direction convention, rotation, intermediates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crms.fingerprint import quality
from crms.fingerprint.images import load_image

from .fpdata import encode, fvc, synthetic_print


def test_direction_points_along_the_ridge(ex):
    """For ridge endings, the direction points into the ridge (dark), away from the end (light)."""
    img = load_image(fvc("fvc2002", "DB1_B", "101_1.png"))
    m = ex.extract(img).template.minutiae
    endings = m[m[:, 3] == 1]
    assert len(endings) >= 8
    px = img.pixels.astype(float)
    ahead, behind = [], []
    for x, y, d, _, _ in endings:
        for dist, out in ((6, ahead), (-6, behind)):
            xx, yy = int(round(x + dist * math.cos(d))), int(round(y - dist * math.sin(d)))
            if 0 <= xx < px.shape[1] and 0 <= yy < px.shape[0]:
                out.append(px[yy, xx])
    assert np.mean(ahead) + 40 < np.mean(behind)


def test_rotating_the_image_rotates_minutiae_and_directions(ex):
    img = load_image(fvc("fvc2002", "DB1_B", "102_3.png"))
    rot90 = np.ascontiguousarray(np.rot90(img.pixels))  # 90° counter-clockwise
    rot = load_image(encode(rot90, "PNG"), dpi=500)
    a = ex.extract(img).template.minutiae
    b = ex.extract(rot).template.minutiae
    w = img.width
    # (x, y) -> (y, w - 1 - x); direction + 90°.
    ax, ay = a[:, 1], (w - 1) - a[:, 0]
    d2 = (b[:, 0, None] - ax[None]) ** 2 + (b[:, 1, None] - ay[None]) ** 2
    j = d2.argmin(axis=1)
    close = d2[np.arange(len(b)), j] <= 4**2
    assert close.sum() >= 0.6 * min(len(a), len(b))
    diff = (b[close, 2] - a[j[close], 2]) % (2 * math.pi)
    mean_dir = math.atan2(np.sin(diff).mean(), np.cos(diff).mean())
    assert abs(mean_dir - math.pi / 2) < math.radians(10)


def test_pipeline_writes_intermediates_and_classic_config(ex, tmp_path):
    img = load_image(encode(synthetic_print(300, 360), "PNG", dpi=500))
    r = ex.extract(img, debug_dir=tmp_path / "dbg")
    for name in ("0_image.png", "1_segment_mask.png", "2_quality_map.png", "4_template_overlay.png"):
        assert (tmp_path / "dbg" / name).stat().st_size > 0
    assert set(r.timings) == {"segment", "quality", "minutiae", "template"}
    c = ex.extract(img, config="classic", debug_dir=tmp_path / "c")
    assert (tmp_path / "c" / "5_enhance_enhanced.png").exists()
    assert c.template.width == 300
    with pytest.raises(ValueError, match="unknown extractor"):
        ex.extract(img, config="nope")


def test_quality_orders_clean_noisy_and_partial_prints():
    clean = synthetic_print(300, 360, seed=1)
    rng = np.random.default_rng(0)
    noisy = np.clip(clean.astype(float) * 0.3 + rng.normal(128, 60, clean.shape), 0, 255).astype(np.uint8)
    partial = np.full_like(clean, 255)
    partial[150:230, 110:190] = clean[150:230, 110:190]
    qc, qn, qp = (quality.assess(x) for x in (clean, noisy, partial))
    assert qc.score > 50
    assert qn.score < qc.score - 20
    assert qp.score < qc.score - 20
    assert qc.local.shape == (360 // quality.BLOCK, 300 // quality.BLOCK)
    assert 0 <= qn.local.min() and qc.local.max() <= 1


def test_enrolment_threshold_gives_reasons():
    clean = synthetic_print(300, 360, seed=2)
    partial = np.full_like(clean, 255)
    partial[150:214, 110:174] = clean[150:214, 110:174]
    ok, why = quality.check_enrolment(quality.assess(clean), threshold=30)
    assert ok, why
    ok, why = quality.check_enrolment(quality.assess(partial), threshold=30)
    assert not ok and "below the enrolment threshold 30" in why and "small fingerprint area" in why
    blank = np.full_like(clean, 200)
    q = quality.assess(blank)
    assert q.score == 0
    assert not quality.check_enrolment(q, threshold=1)[0]


def test_enrolment_problems_are_data_that_the_reason_words_are_made_of():
    clean = synthetic_print(300, 360, seed=2)
    partial = np.full_like(clean, 255)
    partial[150:214, 110:174] = clean[150:214, 110:174]
    assert quality.enrolment_problems(quality.assess(clean), threshold=30) == []
    q = quality.assess(partial)
    problems = quality.enrolment_problems(q, threshold=30)
    small = problems[0]
    assert small["code"] == "small_area" and small["area_mm2"] == round(q.area_mm2) < small["want_mm2"] / 2
    assert [quality.problem_text(p) for p in problems] == quality.check_enrolment(q, 30)[1].split(": ", 1)[
        1
    ].split("; ")
    blank = quality.assess(np.full_like(clean, 200))
    assert [p["code"] for p in quality.enrolment_problems(blank, threshold=1)] == [
        "small_area",
        "unclear_ridges",
    ]
    assert quality.enrolment_problems(q, threshold=q.score) == []  # the threshold itself is met
    low = quality.QualityResult(score=5, local=q.local, area_mm2=200.0, clarity=0.6)
    assert quality.enrolment_problems(low, threshold=6) == [{"code": "low_quality"}]


def test_trace_sink_receives_every_named_step_and_changes_nothing(ex):
    """A trace sink gets the input and then each step's intermediates with its parameters, in pipeline
    order; the template is bit-identical to the one extracted without a trace."""
    img = load_image(encode(synthetic_print(300, 360, seed=4), "PNG"), dpi=500)
    got: list[tuple[str, dict]] = []
    traced = ex.extract(img, trace=lambda step, data: got.append((step, data))).template
    plain = ex.extract(img).template
    assert traced.minutiae.tobytes() == plain.minutiae.tobytes()
    assert [s for s, _ in got] == ["image", "segment", "quality", "minutiae", "template"]
    data = dict(got)
    assert data["image"]["dpi_source"] == "caller" and data["image"]["image"] is img.pixels
    assert data["segment"]["mask"].shape == img.pixels.shape
    assert data["template"]["minutiae"].tobytes() == plain.minutiae.tobytes()
    assert data["minutiae"]["params"]["minutia_quality_threshold"] == 0.6
    got.clear()
    ex.extract(img, config="classic", trace=lambda step, data: got.append((step, data)))
    assert [s for s, _ in got] == [
        "image", "segment", "quality", "orientation", "frequency", "enhance", "minutiae", "template"
    ]  # fmt: skip


def test_step_parameters_are_frozen_and_cached_algorithms_untouched(ex):
    """Every step's parameters are a frozen object; the pyfing algorithm made for one is cached under
    it and keeps pyfing's parameter values after extractions (nothing sets them per call)."""
    from dataclasses import FrozenInstanceError, fields, is_dataclass

    for name, pipe in ex.CONFIGS.items():
        for step in pipe.steps:
            assert is_dataclass(step.params), (name, step.name)
            with pytest.raises(FrozenInstanceError):
                setattr(step.params, fields(step.params)[0].name, 0)
    seg = ex.CONFIGS["leader"].steps[0].params
    ex.extract(load_image(encode(synthetic_print(300, 360, seed=5), "PNG")))
    gmfs = ex._alg("pyfing", seg.as_pyfing())
    assert vars(gmfs.parameters) == dict(seg.as_pyfing().values)
    assert ex._alg("pyfing", seg.as_pyfing()) is gmfs


def _leader_config(ex, name: str, p) -> str:
    """Register configuration ``name``: the default pipeline with LEADER parameters ``p``."""
    ex.CONFIGS[name] = ex._leader_pipeline(name, ex.Step("minutiae", ex.step_leader, p))
    return name


def test_low_resolution_threshold_applies_only_to_enlarged_prints(ex):
    """LeaderParams.low_res_threshold: prints enlarged from below low_res_below_dpi keep the network's
    less certain minutiae too; a 500 ppi print gets exactly what the plain threshold gives."""

    from crms.fingerprint.images import FingerImage
    from crms.fingerprint.params import LeaderParams

    p = LeaderParams(minutia_quality_threshold=0.6, low_res_threshold=0.4)
    assert (p.threshold_for(500), p.threshold_for(569), p.threshold_for(170)) == (0.6, 0.6, 0.4)
    _leader_config(ex, "test_lowres", p)
    _leader_config(ex, "test_plain", LeaderParams(low_res_threshold=None))
    try:
        px = load_image(fvc("fvc2002", "DB1_B", "103_1.png")).pixels
        at500 = FingerImage(px, 500.0, "caller", (px.shape[1], px.shape[0]), "PNG")
        at170 = FingerImage(px, 170.0, "caller", (px.shape[1], px.shape[0]), "PNG")
        plain = ex.extract(at500, "test_plain").template.minutiae
        assert ex.extract(at500, "test_lowres").template.minutiae.tobytes() == plain.tobytes()
        low = ex.extract(at170, "test_lowres").template.minutiae
        assert len(low) > len(plain) and low[:, 4].min() >= 40 - 1e-3 and plain[:, 4].min() >= 60 - 1e-3
        kept = {(round(float(x)), round(float(y))) for x, y in low[:, :2]}
        assert {(round(float(x)), round(float(y))) for x, y in plain[:, :2]} <= kept
    finally:
        del ex.CONFIGS["test_lowres"], ex.CONFIGS["test_plain"]


def test_a_print_with_few_minutiae_is_filled_to_the_minimum_and_others_are_untouched(ex, tmp_path):
    """LeaderParams.min_minutiae: a print left with fewer than that many minutiae at its threshold keeps
    them all plus the network's best others down to fill_threshold, up to the minimum; the trace says
    so. A print with enough minutiae gets exactly what it got without the rule."""
    import json

    from crms.fingerprint.images import FingerImage
    from crms.fingerprint.params import LeaderParams

    plain_c = _leader_config(ex, "test_nofill", LeaderParams(min_minutiae=None))
    fill_c = _leader_config(ex, "test_fill", LeaderParams(min_minutiae=10, fill_threshold=0.1))
    try:
        px = load_image(fvc("fvc2002", "DB1_B", "101_1.png")).pixels
        whole = FingerImage(px, 500.0, "caller", (px.shape[1], px.shape[0]), "PNG")
        plain = ex.extract(whole, plain_c).template.minutiae
        assert len(plain) >= 10
        assert ex.extract(whole, fill_c).template.minutiae.tobytes() == plain.tobytes()

        part = load_image(fvc("fvc2002", "DB1_B", "102_3.png")).pixels
        part = np.ascontiguousarray(part[150:290, 100:240])  # a fragment of a print: 9 minutiae
        frag = FingerImage(part, 500.0, "caller", (part.shape[1], part.shape[0]), "PNG")
        few = ex.extract(frag, plain_c).template.minutiae
        filled = ex.extract(frag, fill_c, debug_dir=tmp_path).template.minutiae
        assert len(few) < 10 and len(filled) == 10
        assert filled[:, 4].min() >= 10 - 1e-3 and filled[:, 4].min() < 60 - 1e-3 <= few[:, 4].min()
        kept = {(round(float(x)), round(float(y))) for x, y in filled[:, :2]}
        assert {(round(float(x)), round(float(y))) for x, y in few[:, :2]} <= kept
        steps = {s["step"]: s for s in json.loads((tmp_path / "trace.json").read_text())["steps"]}
        assert steps["template"]["fill"] == {"to": 10, "threshold": 0.6, "floor": 0.1}
        assert len(steps["template"]["fill_minutiae"]) >= 10
        assert (tmp_path / "4_template_fill_overlay.png").is_file()
    finally:
        del ex.CONFIGS["test_nofill"], ex.CONFIGS["test_fill"]


def test_named_parameters_run_the_algorithms_as_configured_before(ex):
    """The pipeline with its parameter objects gives bit-identical minutiae to pyfing's algorithms called
    the way the engine called them before the parameters were named: GMFS with its defaults at 500 ppi,
    LEADER (ONNX Runtime) at threshold 0.6, border 6 px, at most 150 minutiae."""
    import cv2

    from crms.fingerprint.leader_onnx import LeaderOnnx

    img = load_image(fvc("fvc2004", "DB3_B", "101_1.png"))
    pf = ex._pyfing()
    gmfs = pf.Gmfs()
    gmfs.parameters.image_dpi = 500
    mask = gmfs.run(img.pixels)
    raw = LeaderOnnx(pf.LeaderParameters(minutia_quality_threshold=0.6)).run(img.pixels, 500)
    m = np.array(
        [
            (x, y, math.fmod(d, 2 * math.pi) % (2 * math.pi), 1 if t == "E" else 2, q * 100)
            for x, y, d, t, q in raw
        ],
        dtype=np.float32,
    )
    inner = cv2.erode((mask > 0).astype(np.uint8), np.ones((13, 13), np.uint8))
    m = m[inner[m[:, 1].astype(int), m[:, 0].astype(int)] > 0]
    got = ex.extract(img, "leader_full").template.minutiae
    assert 10 <= len(got) <= 150
    assert got.tobytes() == m.tobytes()


_THREADED_FIRST_USE = """
import sys, threading
from concurrent.futures import ThreadPoolExecutor
from crms.demo.builder import finger_png
from crms.fingerprint import extract_one
assert "pyfing" not in sys.modules
images = [finger_png(77, i, 1) for i in range(4)]  # synthetic prints made in code, 500 ppi
start = threading.Barrier(4)
def job(i):
    start.wait()  # all four reach the first extraction (and pyfing's import) at once
    return extract_one(images[i], 500, f"print{i}.png")
with ThreadPoolExecutor(4) as pool:
    results = list(pool.map(job, range(4)))
for r in results:
    print(r.file, r.error, r.minutiae)
assert all(r.error is None and r.minutiae >= 3 for r in results)
"""


def test_the_first_extractions_in_threads_of_a_fresh_process_import_pyfing_once(ex):
    """Several images extracted in threads by a process that has not imported pyfing yet (crms fp identify
    with two prints): every thread waits for the one import instead of seeing a half-imported module
    ("partially initialized module 'pyfing' has no attribute 'Gmfs'")."""
    import subprocess
    import sys

    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-c", _THREADED_FIRST_USE],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr[-3000:]
