"""In-memory 1:N gallery: every enrolled finger in flat numpy arrays, searched in two stages.

Per finger (no Python object per finger): its id (the caller's key, e.g. the fingerprints row id), the person
it belongs to, its finger position (ANSI/NIST 1-10, 0 unknown), a live flag, where its minutiae start and how
many it has, and its first-stage descriptor (``crms.fingerprint.prefilter``, ``DIMS`` bytes). Minutiae are
kept as the CRMS template format keeps them (x and y in 1/8 pixel, direction in 1/65536 turn, 6 bytes), so a
finger rebuilt from the gallery scores exactly as its stored template. The MCC cylinders are NOT kept (they
take 320 bytes per minutia); stage 2 computes them for the survivors of stage 1 only.

Updates are incremental: ``insert`` (a finger enrolled or re-captured), ``delete`` (retired or deleted),
``move_person`` (two records merged), ``delete_person``; every call checks all its input before it changes
anything, and holds the gallery's lock, so a search never sees half an update. Deleted rows are compacted
away when they reach a quarter of the arrays.

Search (``search``): 1-10 probe fingers, each with a position or 0 (unknown).

1. stage 1 per probe finger: descriptor dot product with every live gallery finger of the same position
   (all positions when either side is unknown); the best ``RERANK`` x ``survivors`` (shared among the
   probe's fingers) are re-ranked with the finer descriptor computed from their minutiae
   (``prefilter.fine_scores``), and the best ``survivors`` of that ranking go on;
2. the persons owning a survivor are the candidates; stage 2 fully matches every probe finger against the
   candidate's finger at the same position (every finger when the probe's is unknown), in parallel;
3. fusion: a person's score is the sum over probe fingers of the best full-match score of that finger;
   the top K persons come back with their per-finger scores.

Scores are calibrated as 10*log10(1/FMR) per comparison (matcher), so a threshold for a wanted false-positive
identification rate (FPIR) follows from the gallery's size (``threshold_for_fpir``); where the gallery's own
measured impostors (``impostors``, see :mod:`crms.fingerprint.impostors`) run higher than that calibration,
they raise it (``decision_threshold``).
"""

from __future__ import annotations

import math
import operator
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit, prange

from crms.errors import ValidationError, rule_error
from crms.fingerprint import _kernels as K
from crms.fingerprint import matcher as M
from crms.fingerprint import prefilter as P
from crms.fingerprint.impostors import PAIRS as IMPOSTOR_PAIRS
from crms.fingerprint.template import Template

SNAPSHOT_VERSION = 1
# what reading a damaged or foreign snapshot (.npz) may raise
SNAPSHOT_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, IndexError, TypeError, zipfile.BadZipFile)
DEFAULT_TOP = 20
DEFAULT_SURVIVORS = 150  # stage-1 survivors per probe finger (at least)
DEFAULT_PENETRATION = 0.0  # ... or this fraction of the searched fingers, whichever is more
RERANK = 5  # the coarse scan keeps this many times the survivors (shared among the probe fingers)
DEFAULT_FPIR = 0.01
MIN_MINUTIAE = 3  # a probe finger with fewer cannot be searched
IMPOSTOR_PROBES = 100  # fingers, and the pool they are compared with, when a gallery measures its impostors
IMPOSTOR_POOL = 1000


class GalleryError(ValidationError):
    pass


def check_position(position, name: str) -> int:
    """A finger position as an int: 1-10 (ANSI/NIST), 0 unknown; anything else is refused naming ``name``.
    A string must be plain ASCII digits (not ``²``, ``1_0``, ``+3`` or thousands of digits)."""
    if isinstance(position, str):
        text = position.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 2):
            shown = text if len(text) <= 12 else text[:12] + "..."
            raise GalleryError(f"{name}: finger position {shown!r} is not a number", field="position")
        position = int(text)
    try:
        p = operator.index(position)  # an int or NumPy integer; not a float or None
    except TypeError:
        raise GalleryError(
            f"{name}: finger position {position!r} is not a number", field="position"
        ) from None
    if not 0 <= p <= 10:
        raise GalleryError(f"{name}: finger position {p} is not 0 (unknown) or 1-10", field="position")
    return p


@dataclass
class ProbeFinger:
    template: Template
    position: int = 0  # ANSI/NIST 1-10, 0 unknown
    name: str = "probe"


@dataclass
class Candidate:
    person: int
    score: float
    fingers: list[dict] = field(default_factory=list)  # {"probe", "position", "finger_id", "score"}


@dataclass
class SearchResult:
    candidates: list[Candidate]
    gallery_fingers: int
    gallery_persons: int
    threshold: float
    fpir: float
    stage1_compared: int  # descriptor comparisons
    stage2_compared: int  # full comparisons
    penetration: float  # stage-2 comparisons / (probe fingers x fingers searched)
    stage1_cpu_s: float = 0.0  # CPU time of the process (all threads) in each stage
    stage2_cpu_s: float = 0.0
    # "calibration": the model's threshold; "gallery": the higher one its measured impostors call for
    threshold_basis: str = "calibration"

    @property
    def hits(self) -> list[Candidate]:
        return [c for c in self.candidates if c.score >= self.threshold]


def impostor_sum_tail(score: float, fingers: int = 1) -> float:
    """Chance that the summed scores of ``fingers`` impostor comparisons reach ``score``, as the matcher's
    calibration models them. Impostor scores are 10*log10(1/FMR), so their tail is exponential with rate
    ln(10)/10; the sum of k independent ones has a Gamma(k) tail:
    P(S >= s) = exp(-l s) * sum_{i<k} (l s)^i / i!."""
    x = math.log(10) / 10 * max(0.0, score)
    return math.exp(-x) * sum(x**i / math.factorial(i) for i in range(max(1, fingers)))


def threshold_for_fpir(fpir: float, persons: int, fingers: int = 1) -> float:
    """Fused score above which a search of ``fingers`` probe fingers against ``persons`` persons has a
    false-positive identification rate of ``fpir``: persons * impostor_sum_tail(s, fingers) = fpir, solved by
    bisection."""
    if not 0 < fpir < 1:
        raise GalleryError("FPIR must be between 0 and 1", field="fpir")
    k = max(1, fingers)
    n = max(1, persons)
    lo, hi = 0.0, 1000.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if n * impostor_sum_tail(mid, k) > fpir:
            lo = mid
        else:
            hi = mid
    return round(hi, 2)


def decision_threshold(fpir: float, persons: int, fingers: int, impostors=None) -> tuple[float, str]:
    """The threshold of a search of ``fingers`` probe fingers among ``persons`` persons at ``fpir``, and its
    basis: the model's (``threshold_for_fpir``, "calibration") or, where the gallery's measured impostors
    (``impostors``, a :class:`crms.fingerprint.impostors.ImpostorProfile`) call for a higher one, that
    ("gallery"). Never lower than the model's."""
    model = threshold_for_fpir(fpir, persons, fingers)
    if impostors is None:
        return model, "calibration"
    measured = impostors.measured_threshold(fpir, persons, fingers)
    return (measured, "gallery") if measured > model else (model, "calibration")


def _template_minutiae(t: Template) -> np.ndarray:
    """The template's minutiae quantised as the CRMS format stores them (uint16 x*8, y*8, direction)."""
    m = np.asarray(t.minutiae, dtype=np.float64).reshape(-1, 5)
    m = m[np.all(np.isfinite(m[:, :3]), axis=1)]
    q = np.empty((m.shape[0], 3), dtype=np.uint16)
    q[:, 0] = np.clip(np.round(m[:, 0] * 8), 0, 65535)
    q[:, 1] = np.clip(np.round(m[:, 1] * 8), 0, 65535)
    q[:, 2] = np.round(np.mod(m[:, 2], 2 * math.pi) * (65536 / (2 * math.pi))).astype(np.int64) % 65536
    return q


def _to_template(q: np.ndarray) -> Template:
    m = np.zeros((q.shape[0], 5), dtype=np.float32)
    m[:, 0] = q[:, 0] / 8.0
    m[:, 1] = q[:, 1] / 8.0
    m[:, 2] = q[:, 2] * (2 * math.pi / 65536)
    return Template(width=1, height=1, minutiae=m)


def _descriptor_q(q: np.ndarray) -> np.ndarray:
    t = _to_template(q)
    return P.descriptor(t.minutiae)


@njit(cache=True, parallel=True)
def _cylinders_batch(xs, ys, ts, off, hulls, hoff, bits, mask, ok):  # pragma: no cover - compiled
    for g in prange(off.shape[0] - 1):
        b, e = off[g], off[g + 1]
        if e == b:
            continue
        bb, mm, oo, _cells = K.cylinders(xs[b:e], ys[b:e], ts[b:e], hulls[hoff[g] : hoff[g + 1]])
        bits[b:e] = bb
        mask[b:e] = mm
        ok[b:e] = oo


@njit(cache=True, parallel=True)
def _compare_batch(
    xa, ya, ta, ca, sa, bits_a, mask_a, ok_a, ones_a, cnt_a, hull_a,
    x, y, t, c, s, bits, mask, ok, ones, cnt, off, hulls, hoff,
    cells, params, cal_raw, cal_score, tail_slope, out,
):  # fmt: skip  # pragma: no cover - compiled
    for g in prange(off.shape[0] - 1):
        b, e = off[g], off[g + 1]
        hs, he = hoff[g], hoff[g + 1]
        f = np.zeros(4)
        K.compare(
            xa, ya, ta, ca, sa, bits_a, mask_a, ok_a, ones_a, cnt_a, hull_a,
            x[b:e], y[b:e], t[b:e], c[b:e], s[b:e], bits[b:e], mask[b:e], ok[b:e], ones[b:e], cnt[b:e],
            hulls[hs:he],
            cells, params, f,
        )  # fmt: skip
        out[g] = K.calibrate_one(K.raw_from_features(f), cal_raw, cal_score, tail_slope)


def pack_minutiae(items: Sequence[np.ndarray]) -> M.PackedGallery:
    """A matcher ``PackedGallery`` from quantised minutiae (as the gallery keeps them), cylinders computed
    in parallel; equal to ``matcher.pack`` of the same templates."""
    xs, ys, ts, hl = [], [], [], []
    for q in items:
        t = _to_template(q)
        m = t.minutiae.astype(np.float64)
        m = m[np.argsort(m[:, 0], kind="stable")]
        x, y, th = m[:, 0].copy(), -m[:, 1], np.mod(m[:, 2], 2 * np.pi)
        xs.append(x)
        ys.append(y)
        ts.append(th)
        hl.append(K.convex_hull(x, y))
    off = np.zeros(len(items) + 1, dtype=np.int64)
    off[1:] = np.cumsum([a.shape[0] for a in xs])
    hoff = np.zeros(len(items) + 1, dtype=np.int64)
    hoff[1:] = np.cumsum([h.shape[0] for h in hl])
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    th = np.concatenate(ts) if ts else np.zeros(0)
    hulls = np.ascontiguousarray(np.concatenate(hl)) if hl else np.zeros((0, 2))
    n = x.shape[0]
    bits = np.zeros((n, K.NWORDS), dtype=np.uint64)
    mask = np.zeros((n, K.NWORDS), dtype=np.uint64)
    ok = np.zeros(n, dtype=np.bool_)
    if len(items):
        _cylinders_batch(x, y, th, off, hulls, hoff, bits, mask, ok)
    ones, cnt = K.cylinder_counts(bits, mask)
    return M.PackedGallery(x, y, th, np.cos(th), np.sin(th), bits, mask, ok, ones, cnt, off, hulls, hoff)


def score_packed(probe: M.PreparedTemplate, g: M.PackedGallery) -> np.ndarray:
    """``matcher.score_many`` over a packed gallery, in parallel over the cores."""
    out = np.zeros(len(g))
    if len(g) == 0 or probe.count == 0:
        return out
    _compare_batch(
        *M._side(probe),
        g.x, g.y, g.theta, g.cos, g.sin, g.bits, g.mask, g.valid, g.ones, g.cnt,
        g.offsets, g.hulls, g.hull_offsets,
        probe.cells, M.DEFAULT_MATCHER.as_array(), M._CAL_RAW, M._CAL_SCORE, M._CAL_TAIL_SLOPE, out,
    )  # fmt: skip
    return out


def write_atomically(path: Path, data: bytes | Iterable[bytes]) -> None:
    """``data`` into ``path`` all or nothing: a new private file (0600) beside it with a unique name, flushed
    to disk, renamed over ``path``, and the directory flushed; a crash leaves the old file or the new."""
    import os
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in (data,) if isinstance(data, bytes | bytearray | memoryview) else data:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class Gallery:
    """See the module docstring. ``key`` values (finger ids) are unique among live fingers."""

    def __init__(self, capacity: int = 1024, minutiae_capacity: int | None = None) -> None:
        self._lock = threading.RLock()
        cap = max(16, capacity)
        self.key = np.zeros(cap, dtype=np.int64)
        self.person = np.zeros(cap, dtype=np.int64)
        self.position = np.zeros(cap, dtype=np.int8)
        self.alive = np.zeros(cap, dtype=np.bool_)
        self.moff = np.zeros(cap, dtype=np.int64)
        self.mcount = np.zeros(cap, dtype=np.int32)
        self.desc = np.zeros((cap, P.DIMS), dtype=np.uint8)
        self.minutiae = np.zeros((minutiae_capacity or cap * 32, 3), dtype=np.uint16)
        self.rows = 0  # rows used (live and dead)
        self.mused = 0  # minutia rows used
        self.dead = 0
        self.version = 0  # bumped by every change
        self.impostors = None  # measured impostor profile (crms.fingerprint.impostors), set by its keeper
        self.impostors_at: int | None = None  # its live fingers when they were measured

    # ------------------------------------------------------------------ size
    def __len__(self) -> int:
        return self.rows - self.dead

    @property
    def persons(self) -> int:
        with self._lock:
            return int(np.unique(self.person[: self.rows][self.alive[: self.rows]]).shape[0])

    def nbytes(self) -> int:
        """Bytes of the arrays in use (live and dead rows; capacity beyond them excluded)."""
        per_row = (
            self.key.itemsize
            + self.person.itemsize
            + self.position.itemsize
            + self.alive.itemsize
            + self.moff.itemsize
            + self.mcount.itemsize
            + P.DIMS
        )
        return self.rows * per_row + self.mused * self.minutiae.itemsize * 3

    def allocated_bytes(self) -> int:
        arrays = (self.key, self.person, self.position, self.alive, self.moff, self.mcount, self.desc)
        return sum(a.nbytes for a in arrays) + self.minutiae.nbytes

    def bytes_per_finger(self) -> float:
        return self.nbytes() / max(1, len(self))

    # ------------------------------------------------------------------ updates
    def _grow(self, rows: int, mrows: int) -> None:
        cap = self.key.shape[0]
        if self.rows + rows > cap:
            new = max(cap * 2, self.rows + rows)
            for name in ("key", "person", "position", "alive", "moff", "mcount", "desc"):
                old = getattr(self, name)
                arr = np.zeros((new,) + old.shape[1:], dtype=old.dtype)
                arr[: self.rows] = old[: self.rows]
                setattr(self, name, arr)
        mcap = self.minutiae.shape[0]
        if self.mused + mrows > mcap:
            arr = np.zeros((max(mcap * 2, self.mused + mrows), 3), dtype=np.uint16)
            arr[: self.mused] = self.minutiae[: self.mused]
            self.minutiae = arr

    def _find(self, key: int) -> np.ndarray:
        r = self.rows
        return np.flatnonzero((self.key[:r] == key) & self.alive[:r])

    def insert_many(self, items: Iterable[tuple[int, int, int, Template]]) -> int:
        """Insert (key, person, position, template) rows; a key already live is replaced. All rows are checked
        (and their descriptors computed) before the gallery changes."""
        prepared = []
        for key, person, position, t in items:
            pos = check_position(position, f"finger {key}")
            if not isinstance(t, Template):
                raise GalleryError(f"finger {key}: not a template", field="template")
            q = _template_minutiae(t)
            prepared.append((int(key), int(person), pos, q, P.descriptor(_to_template(q).minutiae)))
        keys = [p[0] for p in prepared]
        if len(set(keys)) != len(keys):
            raise GalleryError("the same finger id twice in one insert", field="key")
        with self._lock:
            self._grow(len(prepared), sum(p[3].shape[0] for p in prepared))
            for key, _person, _pos, _q, _d in prepared:
                self._kill(self._find(key))
            for key, person, pos, q, d in prepared:
                r = self.rows
                self.key[r], self.person[r], self.position[r], self.alive[r] = key, person, pos, True
                self.moff[r], self.mcount[r] = self.mused, q.shape[0]
                self.minutiae[self.mused : self.mused + q.shape[0]] = q
                self.desc[r] = d
                self.rows += 1
                self.mused += q.shape[0]
            self.version += 1
            self._maybe_compact()
        return len(prepared)

    def bulk_load(
        self,
        keys: np.ndarray,
        persons: np.ndarray,
        positions: np.ndarray,
        minutiae: np.ndarray,
        counts: np.ndarray,
    ) -> int:
        """Append many new fingers at once (keys not yet in the gallery): ``minutiae`` (sum(counts), 3) uint16
        as the gallery keeps them (x*8, y*8, direction in 1/65536 turn). Descriptors computed in parallel."""
        n = int(keys.shape[0])
        counts = np.asarray(counts, dtype=np.int64)
        if not (persons.shape[0] == positions.shape[0] == counts.shape[0] == n):
            raise GalleryError("keys, persons, positions and counts differ in length", field="keys")
        if int(counts.sum()) != minutiae.shape[0]:
            raise GalleryError("minutia rows do not add up to the counts", field="minutiae")
        if np.any((positions < 0) | (positions > 10)):
            raise GalleryError("finger position not 0 (unknown) or 1-10", field="position")
        off = np.zeros(n + 1, dtype=np.int64)
        off[1:] = np.cumsum(counts)
        m = minutiae.astype(np.float64)
        desc = P.descriptors(m[:, 0] / 8.0, m[:, 1] / 8.0, m[:, 2] * (2 * math.pi / 65536), off)
        with self._lock:
            self._grow(n, minutiae.shape[0])
            r, u = self.rows, self.mused
            self.key[r : r + n], self.person[r : r + n], self.position[r : r + n] = keys, persons, positions
            self.alive[r : r + n] = True
            self.moff[r : r + n] = off[:-1] + u
            self.mcount[r : r + n] = counts
            self.desc[r : r + n] = desc
            self.minutiae[u : u + minutiae.shape[0]] = minutiae
            self.rows += n
            self.mused += int(minutiae.shape[0])
            self.version += 1
        return n

    def insert(self, key: int, person: int, position: int, template: Template) -> None:
        self.insert_many([(key, person, position, template)])

    def _kill(self, rows: np.ndarray) -> int:
        if rows.shape[0]:
            self.alive[rows] = False
            self.dead += int(rows.shape[0])
        return int(rows.shape[0])

    def delete(self, key: int) -> bool:
        with self._lock:
            n = self._kill(self._find(int(key)))
            if n:
                self.version += 1
                self._maybe_compact()
            return bool(n)

    def delete_person(self, person: int) -> int:
        with self._lock:
            r = self.rows
            n = self._kill(np.flatnonzero((self.person[:r] == person) & self.alive[:r]))
            if n:
                self.version += 1
                self._maybe_compact()
            return n

    def move_person(self, old: int, new: int) -> int:
        """Records merged: every finger of ``old`` now belongs to ``new``."""
        with self._lock:
            r = self.rows
            rows = np.flatnonzero((self.person[:r] == old) & self.alive[:r])
            self.person[rows] = new
            if rows.shape[0]:
                self.version += 1
            return int(rows.shape[0])

    def keys(self) -> np.ndarray:
        with self._lock:
            return self.key[: self.rows][self.alive[: self.rows]].copy()

    def _maybe_compact(self) -> None:
        if self.dead and self.dead * 4 >= self.rows:
            self.compact()

    def compact(self) -> None:
        with self._lock:
            r = self.rows
            live = np.flatnonzero(self.alive[:r])
            counts = self.mcount[live].astype(np.int64)
            starts = self.moff[live]
            newoff = np.zeros(live.shape[0], dtype=np.int64)
            if live.shape[0]:
                newoff[1:] = np.cumsum(counts)[:-1]
            idx = np.repeat(starts - newoff, counts) + np.arange(int(counts.sum()))
            self.minutiae[: idx.shape[0]] = self.minutiae[idx]
            self.mused = int(idx.shape[0])
            for name in ("key", "person", "position", "mcount", "desc"):
                arr = getattr(self, name)
                arr[: live.shape[0]] = arr[live]
            self.moff[: live.shape[0]] = newoff
            self.alive[: live.shape[0]] = True
            self.alive[live.shape[0] : r] = False
            self.rows = int(live.shape[0])
            self.dead = 0

    # ------------------------------------------------------------------ census (checked against the truth)
    def census(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, persons, positions) of the live fingers, copies."""
        with self._lock:
            r = self.rows
            a = self.alive[:r]
            return self.key[:r][a].copy(), self.person[:r][a].copy(), self.position[:r][a].astype(np.int64)

    def checksum(self) -> tuple[int, int, int, int]:
        """(count, sum of keys, sum of persons, sum of positions) of the live fingers: what a caller compares
        with the same sums over its own records to know whether the gallery is in step with them."""
        with self._lock:
            r = self.rows
            a = self.alive[:r]
            return (
                int(np.count_nonzero(a)),
                int(self.key[:r][a].sum(dtype=np.int64)),
                int(self.person[:r][a].sum(dtype=np.int64)),
                int(self.position[:r][a].sum(dtype=np.int64)),
            )

    # ------------------------------------------------------------------ snapshot (a cache)
    def snapshot_bytes(self, stamp: str = "") -> bytes:
        """The gallery as one ``.npz`` (uncompressed; each member CRC-checked when read) with the caller's
        ``stamp`` (which state of the caller's records it holds)."""
        import io

        with self._lock:
            self.compact()
            buf = io.BytesIO()
            np.savez(
                buf,
                version=np.array([SNAPSHOT_VERSION, P.DIMS]),
                stamp=np.array(stamp),
                key=self.key[: self.rows],
                person=self.person[: self.rows],
                position=self.position[: self.rows],
                mcount=self.mcount[: self.rows],
                minutiae=self.minutiae[: self.mused],
                desc=self.desc[: self.rows],
            )
        return buf.getvalue()

    def save(self, path: str | Path, stamp: str = "") -> None:
        """Write a snapshot atomically: a private temporary file beside it, flushed to disk, renamed over
        ``path`` (a reader, or a crash at any moment, sees the old file or the new one, never half of one)."""
        write_atomically(Path(path), self.snapshot_bytes(stamp))

    @classmethod
    def from_snapshot(cls, data, stamp: str | None = None) -> tuple[Gallery, str] | None:
        """(gallery, stamp) from :meth:`snapshot_bytes`, or None when damaged, of another format or (with
        ``stamp``) of another state."""
        import io

        try:
            with np.load(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data,
                         allow_pickle=False) as z:  # fmt: skip
                ver = z["version"]
                if int(ver[0]) != SNAPSHOT_VERSION or int(ver[1]) != P.DIMS:
                    return None
                got = str(z["stamp"])
                if stamp is not None and got != stamp:
                    return None
                key, person, position = z["key"], z["person"], z["position"]
                mcount, minutiae, desc = z["mcount"], z["minutiae"], z["desc"]
        except SNAPSHOT_READ_ERRORS:
            return None
        n = key.shape[0]
        if not (person.shape[0] == position.shape[0] == mcount.shape[0] == desc.shape[0] == n):
            return None
        if minutiae.ndim != 2 or minutiae.shape[1:] != (3,) or desc.shape[1:] != (P.DIMS,):
            return None
        if int(mcount.sum()) != minutiae.shape[0] or np.any(mcount < 0):
            return None
        if np.any((position < 0) | (position > 10)):
            return None
        g = cls(capacity=n, minutiae_capacity=max(1, minutiae.shape[0]))
        g.key[:n], g.person[:n], g.position[:n], g.mcount[:n], g.desc[:n] = (
            key,
            person,
            position,
            mcount,
            desc,
        )
        g.alive[:n] = True
        if n:
            g.moff[1:n] = np.cumsum(mcount.astype(np.int64))[:-1]
        g.minutiae[: minutiae.shape[0]] = minutiae
        g.rows, g.mused = n, int(minutiae.shape[0])
        return g, got

    @classmethod
    def load(cls, path: str | Path, stamp: str | None = None) -> Gallery | None:
        """A gallery from a snapshot, or None when it is missing, damaged, of another format or (with
        ``stamp``) of another database state."""
        try:
            data = Path(path).read_bytes()
        except OSError:
            return None
        got = cls.from_snapshot(data, stamp)
        return None if got is None else got[0]

    # ------------------------------------------------------------------ search
    def _minutiae_of(self, row: int) -> np.ndarray:
        return self.minutiae[self.moff[row] : self.moff[row] + self.mcount[row]]

    def finger_template(self, row: int) -> Template:
        return _to_template(self.minutiae[self.moff[row] : self.moff[row] + self.mcount[row]])

    def search(
        self,
        probes: Sequence[ProbeFinger],
        top: int = DEFAULT_TOP,
        survivors: int = DEFAULT_SURVIVORS,
        penetration: float = DEFAULT_PENETRATION,
        fpir: float = DEFAULT_FPIR,
        brute_force: bool = False,
    ) -> SearchResult:
        """Top ``top`` persons for 1-10 probe fingers (see the module docstring)."""
        return run_search(
            [self], probes, top, survivors, penetration, fpir, brute_force, impostors=self.impostors
        )

    def impostor_scores(self, pairs: int = IMPOSTOR_PAIRS, seed: int = 0) -> np.ndarray:
        """Scores of up to ``pairs`` random pairs of live fingers of one position and two different persons,
        compared as stage 2 compares them: this gallery's impostors, as measured by
        :class:`crms.fingerprint.impostors.ImpostorProfile`. The pairs join up to ``IMPOSTOR_PROBES`` fingers
        to a pool of up to ``IMPOSTOR_POOL`` (seeded: the same gallery, the same pairs)."""
        rng = np.random.default_rng(seed)
        with self._lock:
            live = np.flatnonzero(self.alive[: self.rows])
            if live.shape[0] < 2 or pairs < 1:
                return np.zeros(0)
            position, person = self.position, self.person
            pool = np.sort(rng.choice(live, min(IMPOSTOR_POOL, live.shape[0]), replace=False))
            probes = rng.choice(live, min(IMPOSTOR_PROBES, live.shape[0]), replace=False)
            per = max(1, pairs // probes.shape[0])
            chosen = []
            for row in probes.tolist():
                ok = pool[(position[pool] == position[row]) & (person[pool] != person[row])]
                if ok.shape[0]:
                    chosen.append((row, np.sort(rng.choice(ok, min(per, ok.shape[0]), replace=False))))
            if not chosen:
                return np.zeros(0)
            packed = pack_minutiae([self._minutiae_of(i) for i in pool.tolist()])
            out = [
                score_packed(
                    M.prepare(_to_template(self._minutiae_of(row))),
                    _subset(packed, np.searchsorted(pool, rows)),
                )
                for row, rows in chosen
            ]
        return np.concatenate(out)

    # The two stages as steps that a coordinator runs over one gallery or over several shards (each person's
    # fingers in one shard); every choice is made over the union of the shards' answers with ties broken by
    # finger id, so any split of the gallery gives the same candidate list.
    def stats(self) -> tuple[int, np.ndarray]:
        with self._lock:
            r = self.rows
            return int(np.count_nonzero(self.alive[:r])), np.unique(self.person[:r][self.alive[:r]])

    def stage1(self, probes: list[tuple], keep: list[int], brute_force: bool) -> list[tuple]:
        """Per probe finger (name, position, minutiae q): the best ``keep`` fingers by descriptor as
        (scores, keys, persons), and how many fingers were searched."""
        out = []
        with self._lock:
            r = self.rows
            alive, position = self.alive[:r], self.position[:r]
            buf = np.empty(r, dtype=np.int32)
            for (_name, pos, q), k in zip(probes, keep, strict=True):
                sel = alive & ((position == pos) | (position == 0)) if pos else alive
                n_sel = int(np.count_nonzero(sel))
                if brute_force:
                    rows = np.flatnonzero(sel)
                    out.append(
                        (
                            np.zeros(rows.shape[0], np.int64),
                            self.key[rows].copy(),
                            self.person[rows].copy(),
                            n_sel,
                        )
                    )
                    continue
                P.scan(P.descriptor(_to_template(q).minutiae), self.desc[:r], sel, buf)
                rows = _top_by(buf, self.key[:r], k)
                out.append(
                    (buf[rows].astype(np.int64), self.key[rows].copy(), self.person[rows].copy(), n_sel)
                )
        return out

    def _live_rows_of(self) -> Callable[[np.ndarray], np.ndarray]:
        """A lookup from finger keys to the rows of those held here and alive (call it under the lock)."""
        live_rows = np.flatnonzero(self.alive[: self.rows])
        order = np.argsort(self.key[live_rows], kind="stable")
        sorted_keys, sorted_rows = self.key[live_rows][order], live_rows[order]
        return lambda ks: sorted_rows[np.searchsorted(sorted_keys, ks[np.isin(ks, sorted_keys)])]

    def rerank(self, probes: list[tuple], keys: list[np.ndarray]) -> list[tuple]:
        """Per probe finger, the fine descriptor's similarity (``prefilter.fine_scores``) with the fingers
        ``keys[i]`` held here, as (scores, keys, persons)."""
        out = []
        with self._lock:
            rows_of = self._live_rows_of()
            for (_name, _pos, q), ks in zip(probes, keys, strict=True):
                rows = rows_of(ks)
                counts = self.mcount[rows].astype(np.int64)
                off = np.zeros(rows.shape[0] + 1, dtype=np.int64)
                np.cumsum(counts, out=off[1:])
                idx = np.repeat(self.moff[rows] - off[:-1], counts) + np.arange(off[-1])
                m = _to_template(self.minutiae[idx]).minutiae
                probe = P.fine_descriptor(_to_template(q).minutiae)
                sc = P.fine_scores(probe, m[:, 0], m[:, 1], m[:, 2], off)
                out.append((sc, self.key[rows].copy(), self.person[rows].copy()))
        return out

    def stage2(self, probes: list[tuple], keys: list[np.ndarray], persons: np.ndarray | None) -> list[tuple]:
        """Full matching: probe finger i against the fingers ``keys[i]`` held here, plus (``persons`` given,
        the probe's position known) every finger of a compatible position of those persons. Returns
        (probe index, person, key, position, score) rows."""
        with self._lock:
            r = self.rows
            alive, position, person, key = self.alive[:r], self.position[:r], self.person[:r], self.key[:r]
            rows_of = self._live_rows_of()
            pairs = []
            cand_mask = alive & np.isin(person, persons) if persons is not None else None
            for (_name, pos, _q), ks in zip(probes, keys, strict=True):
                rows = rows_of(ks)
                if cand_mask is not None:
                    rows = rows[cand_mask[rows]]
                    if pos:
                        rows = np.union1d(
                            rows, np.flatnonzero(cand_mask & ((position == pos) | (position == 0)))
                        )
                pairs.append(np.unique(rows))
            all_rows = np.unique(np.concatenate(pairs)) if pairs else np.zeros(0, dtype=np.int64)
            packed = pack_minutiae([self._minutiae_of(i) for i in all_rows])
            out = []
            for pi, ((_name, _pos, q), rows) in enumerate(zip(probes, pairs, strict=True)):
                if rows.shape[0] == 0:
                    continue
                scores = score_packed(
                    M.prepare(_to_template(q)), _subset(packed, np.searchsorted(all_rows, rows))
                )
                for row, sc in zip(rows.tolist(), scores.tolist(), strict=True):
                    out.append((pi, int(person[row]), int(key[row]), int(position[row]), float(sc)))
            return out


def _union(answers: list, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probe finger i's (scores, keys, persons) from every shard's answer, joined."""
    return tuple(np.concatenate([a[i][k] for a in answers]) for k in range(3))


def _top_by(scores: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n highest scores (>= 0), ties by smaller key: the same choice however the rows are
    split or ordered."""
    ok = np.flatnonzero(scores >= 0)
    if n <= 0 or ok.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    if ok.shape[0] > n:
        cut = np.partition(scores[ok], ok.shape[0] - n)[ok.shape[0] - n]
        ok = ok[scores[ok] >= cut]
    return ok[np.lexsort((keys[ok], -scores[ok]))][:n].astype(np.int64)


def prepare_probes(probes: Sequence[ProbeFinger]) -> list[tuple]:
    """Checked, quantised probe fingers (name, position, minutiae), as every shard receives them."""
    if not 1 <= len(probes) <= 10:
        message = f"a search takes 1 to 10 probe fingers, got {len(probes)}"
        raise rule_error("probes", "probes_count", message, error=GalleryError, count=len(probes), most=10)
    out = []
    for p in probes:
        pos = check_position(p.position, p.name)
        q = _template_minutiae(p.template)
        if q.shape[0] < MIN_MINUTIAE:
            message = f"{p.name}: {q.shape[0]} usable minutiae, at least {MIN_MINUTIAE} needed"
            count = int(q.shape[0])
            raise rule_error(
                "minutiae", "minutiae_too_few", message, error=GalleryError, count=count, needed=MIN_MINUTIAE
            )
        out.append((p.name, pos, q))
    return out


def run_search(
    shards: Sequence,
    probes: Sequence[ProbeFinger],
    top: int = DEFAULT_TOP,
    survivors: int = DEFAULT_SURVIVORS,
    penetration: float = DEFAULT_PENETRATION,
    fpir: float = DEFAULT_FPIR,
    brute_force: bool = False,
    call=None,
    impostors=None,
) -> SearchResult:
    """The search over one or more shards (objects with ``stats``, ``stage1``, ``rerank``, ``stage2``;
    ``call(method, args)`` runs one method on every shard and returns their answers, by default in this
    process). ``impostors``: the gallery's measured impostor profile, which may raise the threshold
    (:func:`decision_threshold`)."""
    if top < 1:
        raise GalleryError("top must be at least 1", field="top")
    prepared = prepare_probes(probes)
    call = call or (lambda name, args: [getattr(s, name)(*args) for s in shards])
    c0 = time.process_time()
    stats = call("stats", ())
    fingers = sum(n for n, _p in stats)
    persons = int(sum(p.shape[0] for _n, p in stats))
    if fingers == 0:
        raise GalleryError("the gallery is empty: nobody is enrolled", field="gallery")
    searched_per = [0] * len(prepared)
    # stage 1 on every shard: the coarse scan keeps RERANK times the survivors wanted, shared among the probe
    # fingers (a tenprint's fingers support each other in the vote below; one finger alone needs the finer
    # ranking most), and the fine re-ranking picks the survivors among them; each choice is the global best
    # of the union of the shards' answers
    keep = [max(survivors, int(math.ceil(penetration * fingers))) for _ in prepared]
    wide = [max(k, int(math.ceil(RERANK * k / len(prepared)))) for k in keep]
    answers = call("stage1", (prepared, wide, brute_force))
    chosen_keys: list[np.ndarray] = []
    scored: list[tuple[np.ndarray, np.ndarray]] = []  # per probe finger: its survivors' scores and persons
    for i, (_name, _pos, q) in enumerate(prepared):
        sc, ks, ps = _union(answers, i)
        searched_per[i] = sum(a[i][3] for a in answers)
        if brute_force:
            chosen_keys.append(np.sort(ks))
            continue
        pick = _top_by(sc, ks, wide[i])
        chosen_keys.append(np.sort(ks[pick]))
        d = P.descriptor(_to_template(q).minutiae).astype(np.int64)
        scored.append((sc[pick] / (float(np.dot(d, d)) or 1.0), ps[pick]))
    finer = [i for i in range(len(prepared)) if wide[i] > keep[i]]
    if finer and not brute_force:
        fine = call("rerank", ([prepared[i] for i in finer], [chosen_keys[i] for i in finer]))
        for j, i in enumerate(finer):
            sc, ks, ps = _union(fine, j)
            pick = _top_by(sc, ks, keep[i])
            chosen_keys[i] = np.sort(ks[pick])
            scored[i] = (sc[pick], ps[pick])
    votes: dict[int, float] = {}
    for sc, ps in scored:
        best_of: dict[int, float] = {}
        for pid, v in zip(ps.tolist(), sc.tolist(), strict=True):
            if v > best_of.get(pid, -1.0):
                best_of[pid] = v
        for pid, v in best_of.items():
            votes[pid] = votes.get(pid, 0.0) + v
    s1 = 0 if brute_force else sum(searched_per)
    cand = None
    if len(prepared) > 1 and not brute_force:  # the persons best supported by stage 1 over all fingers
        keep_persons = max(top, math.ceil(2 * survivors / len(prepared)))
        ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[:keep_persons]
        cand = np.array(sorted(pid for pid, _v in ranked), dtype=np.int64)
    c1 = time.process_time()
    rows = [r for a in call("stage2", (prepared, chosen_keys, cand)) for r in a]
    c2 = time.process_time()
    best: dict[int, dict[int, tuple[float, int, int]]] = {}  # person -> probe -> (score, key, position)
    for pi, pid, key, pos, sc in rows:
        per = best.setdefault(pid, {})
        cur = per.get(pi)
        if cur is None or sc > cur[0] or (sc == cur[0] and key < cur[1]):
            per[pi] = (sc, key, pos)
    cands = []
    for pid, per in best.items():
        total = sum(v[0] for v in per.values())
        fs = [
            {"probe": prepared[pi][0], "position": v[2], "finger_id": v[1], "score": round(v[0], 2)}
            for pi, v in sorted(per.items())
        ]
        cands.append(Candidate(pid, round(total, 2), fs))
    cands.sort(key=lambda c: (-c.score, c.person))
    threshold, basis = decision_threshold(fpir, persons, len(prepared), impostors)
    return SearchResult(
        candidates=cands[:top],
        gallery_fingers=fingers,
        gallery_persons=persons,
        threshold=threshold,
        threshold_basis=basis,
        fpir=fpir,
        stage1_compared=s1,
        stage2_compared=len(rows),
        penetration=len(rows) / max(1, sum(searched_per)),
        stage1_cpu_s=c1 - c0,
        stage2_cpu_s=c2 - c1,
    )


def _subset(g: M.PackedGallery, idx: np.ndarray) -> M.PackedGallery:
    """Items ``idx`` of a packed gallery, as a packed gallery."""
    if idx.shape[0] == len(g) and np.array_equal(idx, np.arange(len(g))):
        return g
    counts = (g.offsets[idx + 1] - g.offsets[idx]).astype(np.int64)
    hcounts = (g.hull_offsets[idx + 1] - g.hull_offsets[idx]).astype(np.int64)
    rows = np.repeat(g.offsets[idx], counts) + (
        np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    )
    hrows = np.repeat(g.hull_offsets[idx], hcounts) + (
        np.arange(int(hcounts.sum())) - np.repeat(np.cumsum(hcounts) - hcounts, hcounts)
    )
    off = np.zeros(idx.shape[0] + 1, dtype=np.int64)
    off[1:] = np.cumsum(counts)
    hoff = np.zeros(idx.shape[0] + 1, dtype=np.int64)
    hoff[1:] = np.cumsum(hcounts)
    return M.PackedGallery(
        g.x[rows], g.y[rows], g.theta[rows], g.cos[rows], g.sin[rows], g.bits[rows], g.mask[rows],
        g.valid[rows], g.ones[rows], g.cnt[rows], off, np.ascontiguousarray(g.hulls[hrows]), hoff,
    )  # fmt: skip
