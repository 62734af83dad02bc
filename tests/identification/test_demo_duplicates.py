"""The demo database holds a few duplicate enrolments: persons whose fingers are a second impression of
another demo person's fingers, so that the examiners' queue is not empty in a demo."""

from __future__ import annotations

import pytest

from crms.demo.builder import DEMO_DUPLICATE_OF, _finger_job, finger_png


def _needs_the_engine() -> None:
    try:
        from crms.fingerprint import extract

        extract._pyfing()
    except ImportError as exc:
        pytest.skip(f"the 'fingerprint' extra is not installed: {exc}")


def test_duplicate_demo_persons_carry_a_second_impression_of_another_persons_fingers():
    dup, src = next(iter(DEMO_DUPLICATE_OF.items()))
    _, _, png = _finger_job((1, dup, 2))
    assert png == finger_png(1, src, 2, 1)
    assert png != finger_png(1, src, 2) and png != finger_png(1, dup, 2)


def test_the_two_impressions_match_above_a_dedup_threshold():
    _needs_the_engine()
    from crms.fingerprint import matcher
    from crms.fingerprint.gallery import threshold_for_fpir
    from crms.fingerprint.serialise import loads
    from crms.fingerprint.workers import extract_one

    dup, src = next(iter(DEMO_DUPLICATE_OF.items()))
    a = extract_one(finger_png(1, src, 2), 500, "a")
    b = extract_one(_finger_job((1, dup, 2))[2], 500, "b")
    c = extract_one(finger_png(1, dup + 1, 2), 500, "c")
    mate = matcher.score(loads(a.template), loads(b.template))
    other = matcher.score(loads(a.template), loads(c.template))
    assert mate > threshold_for_fpir(0.01, 500, 1) > other


def test_demo_prints_are_worn_like_live_scans_not_pristine():
    # Pristine synthetic prints make different fingers score above the calibration and fill the duplicate
    # queue with false cases; the demo's are drawn worn and noisy (DEMO_DIFFICULTY) and read as such.
    _needs_the_engine()
    from crms.demo.builder import DEMO_GROWTH_ITERATIONS
    from crms.fingerprint import generate_master, png_bytes, render_impression
    from crms.fingerprint.workers import extract_one

    demo, pristine = [], []
    for index, position in ((0, 1), (2, 3), (5, 7), (9, 2), (13, 6), (21, 10)):
        master = generate_master(1_000_000 + index, position - 1, iterations=DEMO_GROWTH_ITERATIONS)
        demo.append(extract_one(finger_png(1, index, position), 500, "demo").quality)
        pristine.append(extract_one(png_bytes(render_impression(master, 0)), 500, "pristine").quality)
    assert sum(demo) / len(demo) < sum(pristine) / len(pristine) - 8
