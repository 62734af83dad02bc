"""CRMS binary templates and ISO/IEC 19794-2:2005 minutiae records: round trips and damage."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from crms.fingerprint.serialise import (
    MAX_MINUTIAE,
    TemplateError,
    dumps,
    iso_dumps,
    iso_loads,
    load_template,
    loads,
    save_template,
)
from crms.fingerprint.template import Template


def random_template(n: int = 40, seed: int = 0) -> Template:
    rng = np.random.default_rng(seed)
    m = np.column_stack(
        [
            rng.uniform(0, 399, n),
            rng.uniform(0, 499, n),
            rng.uniform(0, 2 * math.pi, n),
            rng.integers(0, 3, n),
            rng.integers(0, 101, n),
        ]
    ).astype(np.float32)
    return Template(width=400, height=500, minutiae=m, quality=57, dpi=569)


def angle_diff(a, b):
    return np.abs((a - b + math.pi) % (2 * math.pi) - math.pi)


def test_crms_round_trip(tmp_path):
    t = random_template()
    p = tmp_path / "a.tpl"
    size = save_template(t, p)
    u = load_template(p)
    assert size == p.stat().st_size == 16 + 8 * 40 + 4
    assert (u.width, u.height, u.quality, u.dpi) == (400, 500, 57, 569)
    assert np.abs(u.minutiae[:, :2] - t.minutiae[:, :2]).max() <= 1 / 16 + 1e-6
    assert angle_diff(u.minutiae[:, 2], t.minutiae[:, 2]).max() < 1e-4
    assert np.array_equal(u.minutiae[:, 3], t.minutiae[:, 3])
    assert np.array_equal(u.minutiae[:, 4], t.minutiae[:, 4])
    assert loads(dumps(u)).minutiae.tobytes() == u.minutiae.tobytes()  # stable after one trip


def test_crms_size_limit_keeps_best_minutiae():
    t = random_template(400)
    data = dumps(t)
    assert len(data) <= 2048
    u = loads(data)
    assert u.count == MAX_MINUTIAE
    assert u.minutiae[:, 4].min() >= np.sort(t.minutiae[:, 4])[-MAX_MINUTIAE]


def test_empty_template_round_trips():
    t = Template(width=300, height=300, minutiae=np.zeros((0, 5)))
    assert loads(dumps(t)).count == 0
    assert iso_loads(iso_dumps(t)).count == 0


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d[:10], "too short"),
        (lambda d: b"XXXX" + d[4:], "magic"),
        (lambda d: d[:4] + b"\x09" + d[5:], "version"),
        (lambda d: d[:-9] + d[-4:], "length"),
        (lambda d: d[:20] + bytes([d[20] ^ 0xFF]) + d[21:], "checksum"),
    ],
)
def test_crms_damage_is_detected(damage, message):
    with pytest.raises(TemplateError, match=message):
        loads(damage(dumps(random_template())))


def test_iso_round_trip_and_header():
    t = random_template(60, seed=2)
    t.dpi = 500
    data = iso_dumps(t, finger_position=7)
    magic, version, length, _dev, w, h, rx, ry, views, _ = struct.unpack(">4s4sIHHHHHBB", data[:24])
    assert (magic, version, length, w, h, rx, ry, views) == (
        b"FMR\x00",
        b" 20\x00",
        len(data),
        400,
        500,
        197,
        197,
        1,
    )
    assert data[24] == 7 and data[27] == 60
    assert len(data) == 24 + 4 + 6 * 60 + 2
    u = iso_loads(data)
    assert np.abs(u.minutiae[:, :2] - t.minutiae[:, :2]).max() <= 0.5 + 1e-4
    assert angle_diff(u.minutiae[:, 2], t.minutiae[:, 2]).max() <= math.pi / 256 + 1e-4
    assert np.array_equal(u.minutiae[:, 3], t.minutiae[:, 3])
    assert np.array_equal(u.minutiae[:, 4], t.minutiae[:, 4])
    assert u.quality == 57 and u.dpi == 500
    # Second trip is exact: ISO precision is already reached.
    assert iso_dumps(u, finger_position=7) == data


def test_iso_read_by_an_independent_reader():
    """pyfing's own ISO 19794-2 reader must read our export with the same values."""
    from crms.fingerprint.extract import _pyfing

    try:
        _pyfing()  # sets the Keras backend before pyfing imports Keras
    except ImportError as exc:
        pytest.skip(f"pyfing is not installed (the 'fingerprint' extra): {exc}")
    from pyfing.utils.iso_format import _unpack_minutiae_from_iso_template

    t = random_template(30, seed=5)
    theirs = _unpack_minutiae_from_iso_template(iso_dumps(t))
    assert len(theirs) == 30
    types = {"O": 0, "E": 1, "B": 2}
    for mine, m in zip(t.minutiae, theirs, strict=True):
        assert abs(m.x - mine[0]) <= 0.5 and abs(m.y - mine[1]) <= 0.5
        assert angle_diff(np.float32(m.direction), mine[2]) <= math.pi / 256 + 1e-4
        assert types[m.type] == mine[3] and m.quality == mine[4]


def test_iso_import_rescales_other_resolutions():
    t = random_template(10)
    data = bytearray(iso_dumps(t))
    struct.pack_into(">HH", data, 18, 394, 394)  # 1000 ppi in pixels per centimetre
    u = iso_loads(bytes(data))
    assert np.allclose(u.minutiae[:, 0], np.round(t.minutiae[:, 0]) * 197 / 394, atol=1e-3)
    assert u.width == 200 and u.height == 250


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d[:20], "too short"),
        (lambda d: b"FMX\x00" + d[4:], "format identifier"),
        (lambda d: d[:4] + b" 30\x00" + d[8:], "version"),
        (lambda d: d[:-7], "length field"),
    ],
)
def test_iso_damage_is_detected(damage, message):
    with pytest.raises(TemplateError, match=message):
        iso_loads(damage(iso_dumps(random_template())))


def test_iso_truncated_with_consistent_length():
    data = iso_dumps(random_template(20))[:-20]
    data = data[:8] + struct.pack(">I", len(data)) + data[12:]
    with pytest.raises(TemplateError, match="truncated"):
        iso_loads(data)


def test_load_template_detects_iso_files(tmp_path):
    p = tmp_path / "x.iso"
    p.write_bytes(iso_dumps(random_template(5)))
    assert load_template(p).count == 5
    (tmp_path / "junk.tpl").write_bytes(b"junk")
    with pytest.raises(TemplateError):
        load_template(tmp_path / "junk.tpl")
