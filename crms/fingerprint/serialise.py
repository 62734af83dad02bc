"""Template serialisation: the compact CRMS binary format and ISO/IEC 19794-2:2005 minutiae records.

CRMS format, version 1 (big-endian), at most 2 KB per finger:

    offset size  field
    0      4     magic b"CRMT"
    4      1     version (1)
    5      1     flags (0)
    6      2     width at 500 ppi
    8      2     height at 500 ppi
    10     2     dpi of the source image (for the record; coordinates are always at 500 ppi)
    12     1     print quality 0-100
    13     1     reserved (0)
    14     2     minutia count N (at most MAX_MINUTIAE)
    16     8*N   per minutia: x*8 (uint16), y*8 (uint16), direction*65536/(2*pi) (uint16),
                 type (uint8: 0 other, 1 ending, 2 bifurcation), quality (uint8 0-100)
    16+8N  4     CRC-32 of everything before it

Coordinates are kept to 1/8 pixel and directions to 1/65536 of a turn, so a round trip changes them
by at most 1/16 pixel and 0.003 degree.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np

from crms.errors import ValidationError
from crms.fingerprint.template import Template

MAGIC = b"CRMT"
VERSION = 1
MAX_MINUTIAE = 250  # 16 + 8*250 + 4 = 2020 bytes
_HEAD = struct.Struct(">4sBBHHHBBH")
_REC = np.dtype([("x", ">u2"), ("y", ">u2"), ("d", ">u2"), ("t", "u1"), ("q", "u1")])
TAU = 2 * math.pi


class TemplateError(ValidationError):
    def __init__(self, message: str, *, field: str | None = "template"):
        super().__init__(message, field=field)


def _limit(t: Template) -> np.ndarray:
    m = t.minutiae
    if m.shape[0] > MAX_MINUTIAE:  # keep the best minutiae
        order = np.argsort(-m[:, 4], kind="stable")[:MAX_MINUTIAE]
        m = m[np.sort(order)]
    return m


def dumps(t: Template) -> bytes:
    """Serialise a template to the CRMS binary format."""
    if not (0 < t.width < 8192 and 0 < t.height < 8192):
        raise TemplateError(f"template size {t.width}x{t.height} is out of range (1..8191)")
    m = _limit(t)
    rec = np.zeros(m.shape[0], dtype=_REC)
    rec["x"] = np.clip(np.round(m[:, 0] * 8), 0, 65535)
    rec["y"] = np.clip(np.round(m[:, 1] * 8), 0, 65535)
    rec["d"] = np.round(np.mod(m[:, 2], TAU) * (65536 / TAU)).astype(np.int64) % 65536
    rec["t"] = np.clip(m[:, 3], 0, 2).astype(np.uint8)
    rec["q"] = np.clip(np.round(m[:, 4]), 0, 100).astype(np.uint8)
    head = _HEAD.pack(
        MAGIC,
        VERSION,
        0,
        int(t.width),
        int(t.height),
        int(round(t.dpi)) & 0xFFFF,
        int(np.clip(t.quality, 0, 100)),
        0,
        m.shape[0],
    )
    body = head + rec.tobytes()
    return body + struct.pack(">I", zlib.crc32(body))


def loads(data: bytes, name: str = "template") -> Template:
    """Parse the CRMS binary format; any damage raises :class:`TemplateError`."""
    if len(data) < _HEAD.size + 4:
        raise TemplateError(f"{name}: too short to be a CRMS template ({len(data)} bytes)")
    magic, version, _flags, w, h, dpi, quality, _res, n = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise TemplateError(f"{name}: not a CRMS template (bad magic {magic!r})")
    if version != VERSION:
        raise TemplateError(f"{name}: unsupported CRMS template version {version}")
    if n > MAX_MINUTIAE:
        raise TemplateError(f"{name}: minutia count {n} is over the limit of {MAX_MINUTIAE}")
    end = _HEAD.size + n * _REC.itemsize
    if len(data) != end + 4:
        raise TemplateError(f"{name}: length {len(data)} does not match {n} minutiae ({end + 4} bytes)")
    (crc,) = struct.unpack_from(">I", data, end)
    if crc != zlib.crc32(data[:end]):
        raise TemplateError(f"{name}: checksum mismatch (damaged template)")
    rec = np.frombuffer(data, dtype=_REC, count=n, offset=_HEAD.size)
    if np.any(rec["t"] > 2) or np.any(rec["q"] > 100):
        raise TemplateError(f"{name}: invalid minutia type or quality")
    m = np.empty((n, 5), dtype=np.float32)
    m[:, 0] = rec["x"] / 8.0
    m[:, 1] = rec["y"] / 8.0
    m[:, 2] = rec["d"] * (TAU / 65536)
    m[:, 3] = rec["t"]
    m[:, 4] = rec["q"]
    return Template(width=w, height=h, minutiae=m, quality=quality, dpi=dpi or 500)


def save_template(t: Template, path: str | Path) -> int:
    data = dumps(t)
    Path(path).write_bytes(data)
    return len(data)


def load_template(path: str | Path) -> Template:
    """Load a template file: the CRMS format, or an ISO/IEC 19794-2:2005 record (first view)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise TemplateError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if data[:4] == b"FMR\x00":
        return iso_loads(data, str(p))
    return loads(data, str(p))


def is_template_file(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head in (MAGIC, b"FMR\x00")


# ---------------------------------------------------------------- ISO/IEC 19794-2:2005

ISO_MAGIC = b"FMR\x00"
ISO_VERSION = b" 20\x00"
_ISO_HEAD = struct.Struct(">4s4sIHHHHHBB")  # 24 bytes
_ISO_VIEW = struct.Struct(">BBBB")
_ISO_TYPE_TO = {0: 0, 1: 1, 2: 2}  # ISO: 00 other, 01 ridge ending, 10 bifurcation
PPCM_500 = 197  # 500 ppi in pixels per centimetre, as ISO 19794-2 records resolution


def iso_dumps(t: Template, finger_position: int = 0, impression_type: int = 0) -> bytes:
    """Export one finger view as an ISO/IEC 19794-2:2005 finger minutiae record (500 ppi = 197 ppcm).

    ISO angles are in units of 360/256 degrees, counter-clockwise from the horizontal, the same
    convention as :class:`Template`; ISO quality is 0-100 (0 = not reported)."""
    if not (0 <= finger_position <= 10):
        raise TemplateError(
            f"finger position {finger_position} is out of range 0..10", field="finger_position"
        )
    m = t.minutiae
    if m.shape[0] > 255:
        order = np.argsort(-m[:, 4], kind="stable")[:255]
        m = m[np.sort(order)]
    n = m.shape[0]
    x = np.clip(np.round(m[:, 0]), 0, 0x3FFF).astype(np.uint16)
    y = np.clip(np.round(m[:, 1]), 0, 0x3FFF).astype(np.uint16)
    typ = np.clip(m[:, 3], 0, 2).astype(np.uint16)
    ang = (np.round(np.mod(m[:, 2], TAU) * (256 / TAU)).astype(np.int64) % 256).astype(np.uint8)
    q = np.clip(np.round(m[:, 4]), 0, 100).astype(np.uint8)
    rec = np.zeros(n, dtype=[("xt", ">u2"), ("y", ">u2"), ("a", "u1"), ("q", "u1")])
    rec["xt"] = (typ << 14) | x
    rec["y"] = y
    rec["a"] = ang
    rec["q"] = q
    view = _ISO_VIEW.pack(finger_position, (impression_type & 0xF) << 4, int(np.clip(t.quality, 0, 100)), n)
    body = view + rec.tobytes() + struct.pack(">H", 0)  # no extended data
    length = _ISO_HEAD.size + len(body)
    head = _ISO_HEAD.pack(
        ISO_MAGIC,
        ISO_VERSION,
        length,
        0,
        min(int(t.width), 0xFFFF),
        min(int(t.height), 0xFFFF),
        PPCM_500,
        PPCM_500,
        1,
        0,
    )
    return head + body


def iso_loads(data: bytes, name: str = "ISO record", view: int = 0) -> Template:
    """Import one view of an ISO/IEC 19794-2:2005 finger minutiae record, rescaled to 500 ppi."""
    if len(data) < _ISO_HEAD.size + _ISO_VIEW.size:
        raise TemplateError(f"{name}: too short for an ISO 19794-2 record ({len(data)} bytes)")
    magic, version, length, _dev, w, h, rx, ry, nviews, _r = _ISO_HEAD.unpack_from(data)
    if magic != ISO_MAGIC:
        raise TemplateError(f"{name}: not an ISO 19794-2 record (bad format identifier)")
    if version != ISO_VERSION:
        raise TemplateError(f"{name}: unsupported ISO 19794-2 version {version!r} (expected 2005, ' 20')")
    if length != len(data):
        raise TemplateError(f"{name}: record length field {length} does not match {len(data)} bytes")
    if nviews < 1 or view >= nviews:
        raise TemplateError(f"{name}: view {view} requested but the record holds {nviews}")
    if rx == 0 or ry == 0:
        raise TemplateError(f"{name}: resolution is zero")
    off = _ISO_HEAD.size
    for i in range(nviews):
        if off + _ISO_VIEW.size > len(data):
            raise TemplateError(f"{name}: truncated at view {i}")
        _pos, _vi, fq, n = _ISO_VIEW.unpack_from(data, off)
        off += _ISO_VIEW.size
        mend = off + 6 * n
        if mend + 2 > len(data):
            raise TemplateError(f"{name}: truncated in the minutiae of view {i}")
        recs = data[off:mend]
        (ext_len,) = struct.unpack_from(">H", data, mend)
        nxt = mend + 2 + ext_len
        if ext_len and nxt > len(data):
            raise TemplateError(f"{name}: extended data of view {i} runs past the end")
        if i == view:
            rec = np.frombuffer(recs, dtype=[("xt", ">u2"), ("y", ">u2"), ("a", "u1"), ("q", "u1")])
            typ = (rec["xt"] >> 14).astype(np.int64)
            if np.any(typ == 3):
                raise TemplateError(f"{name}: invalid minutia type 11b in view {i}")
            sx, sy = PPCM_500 / rx, PPCM_500 / ry
            m = np.empty((n, 5), dtype=np.float32)
            m[:, 0] = (rec["xt"] & 0x3FFF) * sx
            m[:, 1] = (rec["y"] & 0x3FFF) * sy
            m[:, 2] = rec["a"] * (TAU / 256)
            m[:, 3] = typ
            m[:, 4] = np.minimum(rec["q"], 100)
            return Template(
                width=max(1, int(round(w * sx))),
                height=max(1, int(round(h * sy))),
                minutiae=m,
                quality=min(int(fq), 100),
                dpi=int(round(rx * 2.54)),
            )
        off = nxt
    raise TemplateError(f"{name}: view {view} not found")  # pragma: no cover
