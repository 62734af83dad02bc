"""The gallery split into shards: every person's fingers live in shard ``person % n``; a search runs its two
stages on every shard and the coordinator (:func:`crms.fingerprint.gallery.run_search`) makes every choice
over the union of their answers, so the candidate list is the same for any number of shards.

Backends (``CRMS_CLUSTER``):

* unset or ``process``: on one machine each shard is a worker process (``CRMS_GALLERY_SHARDS``, default 1 =
  no sharding, the gallery in the server process);
* ``local``: shards in this process (tests, tools);
* ``ray``: shards are Ray actors on a local Ray instance; ``ray://HOST:PORT``: actors on that Ray cluster
  (the optional ``cluster`` extra installs Ray; nothing here is a home-made distributed engine).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterable, Sequence

import numpy as np

from crms.fingerprint import gallery as G
from crms.fingerprint.template import Template

SNAPSHOT_VERSION = 1  # of a sharded gallery's snapshot (each shard's part: Gallery's own format)


class ShardServer:
    """One shard: a :class:`Gallery` and the verbs a coordinator calls on it."""

    def __init__(self) -> None:
        self.g = G.Gallery()

    def insert_q(self, items: list[tuple[int, int, int, np.ndarray]]) -> int:
        return self.g.insert_many((k, p, pos, G._to_template(q)) for k, p, pos, q in items)

    def delete(self, key: int) -> bool:
        return self.g.delete(key)

    def delete_many(self, keys: np.ndarray) -> int:
        g = self.g
        with g._lock:
            rows = np.flatnonzero(np.isin(g.key[: g.rows], keys) & g.alive[: g.rows])
            n = g._kill(rows)
            if n:
                g.version += 1
                g._maybe_compact()
        return n

    def delete_person(self, person: int) -> int:
        return self.g.delete_person(person)

    def take_person(self, person: int) -> list[tuple[int, int, int, np.ndarray]]:
        """Remove and return a person's fingers (to move them to another shard)."""
        g = self.g
        with g._lock:
            rows = np.flatnonzero((g.person[: g.rows] == person) & g.alive[: g.rows])
            out = [(int(g.key[r]), person, int(g.position[r]), g._minutiae_of(r).copy()) for r in rows]
            g._kill(rows)
            g.version += 1
        return out

    def move_person(self, old: int, new: int) -> int:
        return self.g.move_person(old, new)

    def keys(self) -> np.ndarray:
        return self.g.keys()

    def count(self) -> int:
        return len(self.g)

    def census(self):
        return self.g.census()

    def checksum(self):
        return self.g.checksum()

    def nbytes(self) -> int:
        return self.g.nbytes()

    def stats(self):
        return self.g.stats()

    def snapshot_bytes(self, stamp: str = "") -> bytes:
        return self.g.snapshot_bytes(stamp)

    def load_snapshot(self, data: bytes) -> bool:
        """Replace this shard's gallery by a snapshot of one (False, nothing changed, when it is damaged)."""
        got = G.Gallery.from_snapshot(data)
        if got is None:
            return False
        self.g = got[0]
        return True

    def stage1(self, probes, keep, brute_force):
        return self.g.stage1(probes, keep, brute_force)

    def rerank(self, probes, keys):
        return self.g.rerank(probes, keys)

    def stage2(self, probes, keys, persons):
        return self.g.stage2(probes, keys, persons)

    def impostor_scores(self, pairs, seed):
        return self.g.impostor_scores(pairs, seed)


def _serve(conn) -> None:  # pragma: no cover - runs in the worker process
    server = ShardServer()
    while True:
        msg = conn.recv()
        if msg is None:
            break
        name, args = msg
        try:
            conn.send((True, getattr(server, name)(*args)))
        except Exception as exc:  # returned to the coordinator, raised there
            conn.send((False, exc))


class _ProcessShard:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()

    def send(self, name: str, args: tuple) -> None:
        self.conn.send((name, args))

    def recv(self):
        ok, value = self.conn.recv()
        if not ok:
            raise value
        return value

    def close(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.terminate()


class ShardedGallery:
    """A gallery of ``n`` shards behind the same verbs as :class:`Gallery` (insert_many, delete,
    delete_person, move_person, keys, census, checksum, search)."""

    def __init__(self, n: int = 2, backend: str = "local", address: str | None = None) -> None:
        if n < 1:
            raise G.GalleryError("at least one shard", field="shards")
        self.n = n
        self.backend = backend
        self.impostors = None  # measured impostor profile (crms.fingerprint.impostors), set by its keeper
        self.impostors_at: int | None = None  # its live fingers when they were measured
        if backend == "local":
            self._shards: list = [ShardServer() for _ in range(n)]
        elif backend == "process":
            self._shards = [_ProcessShard() for _ in range(n)]
        elif backend == "ray":
            import ray

            if not ray.is_initialized():
                ray.init(
                    address=address, include_dashboard=False, log_to_driver=False, configure_logging=False
                )
            actor = ray.remote(num_cpus=0)(ShardServer)
            self._shards = [actor.remote() for _ in range(n)]
        else:
            raise G.GalleryError(f"unknown shard backend {backend!r}", field="CRMS_CLUSTER")

    def _call(self, name: str, args: tuple, shards: Sequence[int] | None = None) -> list:
        idx = list(range(self.n)) if shards is None else list(shards)
        if self.backend == "local":
            return [getattr(self._shards[i], name)(*args) for i in idx]
        if self.backend == "process":
            for i in idx:
                self._shards[i].send(name, args)
            return [self._shards[i].recv() for i in idx]
        import ray

        return ray.get([getattr(self._shards[i], name).remote(*args) for i in idx])

    def shard_of(self, person: int) -> int:
        return int(person) % self.n

    def insert_many(self, items: Iterable[tuple[int, int, int, Template]]) -> int:
        """Checked as a whole (positions, templates, unique keys) before any shard changes."""
        per: list[list] = [[] for _ in range(self.n)]
        seen = set()
        for key, person, position, t in items:
            pos = G.check_position(position, f"finger {key}")
            if not isinstance(t, Template):
                raise G.GalleryError(f"finger {key}: not a template", field="template")
            if key in seen:
                raise G.GalleryError("the same finger id twice in one insert", field="key")
            seen.add(key)
            per[self.shard_of(person)].append((int(key), int(person), pos, G._template_minutiae(t)))
        for i in range(self.n):  # a key re-enrolled under another person may sit in another shard
            mine = {x[0] for x in per[i]}
            others = np.array(sorted(seen - mine), dtype=np.int64)
            if others.shape[0]:
                self._call("delete_many", (others,), [i])
        for i, batch in enumerate(per):
            if batch:
                self._call("insert_q", (batch,), [i])
        return len(seen)

    def insert(self, key: int, person: int, position: int, template: Template) -> None:
        self.insert_many([(key, person, position, template)])

    def delete(self, key: int) -> bool:
        return any(self._call("delete", (int(key),)))

    def delete_person(self, person: int) -> int:
        return int(self._call("delete_person", (int(person),), [self.shard_of(person)])[0])

    def move_person(self, old: int, new: int) -> int:
        a, b = self.shard_of(old), self.shard_of(new)
        if a == b:
            return int(self._call("move_person", (int(old), int(new)), [a])[0])
        items = self._call("take_person", (int(old),), [a])[0]
        if items:
            self._call("insert_q", ([(k, int(new), pos, q) for k, _p, pos, q in items],), [b])
        return len(items)

    def keys(self) -> np.ndarray:
        return np.concatenate(self._call("keys", ()))

    def __len__(self) -> int:
        return int(sum(self._call("count", ())))

    def census(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = self._call("census", ())
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]

    def checksum(self) -> tuple[int, int, int, int]:
        sums = self._call("checksum", ())
        return tuple(int(sum(s[i] for s in sums)) for i in range(4))  # type: ignore[return-value]

    @property
    def persons(self) -> int:
        return int(sum(p.shape[0] for _n, p in self._call("stats", ())))

    def bytes_per_finger(self) -> float:
        return sum(self._call("nbytes", ())) / max(1, len(self))

    def search(self, probes: Sequence[G.ProbeFinger], **kw) -> G.SearchResult:
        return G.run_search(self._shards, probes, call=self._call, impostors=self.impostors, **kw)

    def impostor_scores(self, pairs: int = G.IMPOSTOR_PAIRS, seed: int = 0) -> np.ndarray:
        """:meth:`Gallery.impostor_scores` of every shard, their share of the pairs each (a person's fingers
        are all in one shard, so pairs within a shard are of two different persons as anywhere)."""
        parts = self._call("impostor_scores", (max(1, pairs // self.n), seed))
        return np.concatenate(parts) if parts else np.zeros(0)

    def snapshot_bytes(self, stamp: str = "") -> bytes:
        """Every shard's :meth:`Gallery.snapshot_bytes` in one ``.npz`` with the caller's ``stamp``; it loads
        back only into a gallery of as many shards (a person's shard is ``person % n``)."""
        import io

        parts = self._call("snapshot_bytes", ("",))
        buf = io.BytesIO()
        np.savez(
            buf,
            version=np.array([SNAPSHOT_VERSION, self.n]),
            stamp=np.array(stamp),
            **{f"shard{i}": np.frombuffer(part, dtype=np.uint8) for i, part in enumerate(parts)},
        )
        return buf.getvalue()

    def load_snapshot(self, data: bytes) -> tuple[str | None, str]:
        """Load each shard's part of :meth:`snapshot_bytes`: (its stamp, "ok"), or (None, why not). After a
        failure some shards may hold their part: the caller starts afresh (a new gallery)."""
        import io

        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                version = z["version"]
                if version.shape != (2,) or int(version[0]) != SNAPSHOT_VERSION:
                    return None, "damaged (not a sharded gallery's)"
                if int(version[1]) != self.n:
                    return None, f"of {int(version[1])} shards, not {self.n}"
                stamp = str(z["stamp"])
                parts = [z[f"shard{i}"].tobytes() for i in range(self.n)]
        except G.SNAPSHOT_READ_ERRORS:
            return None, "damaged (not a sharded gallery's)"
        for i, part in enumerate(parts):
            if not self._call("load_snapshot", (part,), [i])[0]:
                return None, f"damaged (shard {i})"
        return stamp, "ok"

    def close(self) -> None:
        if self.backend == "process":
            for s in self._shards:
                s.close()
        elif self.backend == "ray":
            import ray

            for s in self._shards:
                ray.kill(s)
        self._shards = []


def from_environment() -> G.Gallery | ShardedGallery:
    """The gallery the settings ask for: ``CRMS_CLUSTER`` (ray, ray://HOST:PORT, process, local) and
    ``CRMS_GALLERY_SHARDS`` (default 1, or 2 under Ray)."""
    cluster = os.environ.get("CRMS_CLUSTER", "").strip()
    n = int(os.environ.get("CRMS_GALLERY_SHARDS", "2" if cluster.startswith("ray") else "1"))
    if cluster.startswith("ray"):
        return ShardedGallery(n, "ray", None if cluster == "ray" else cluster)
    if n <= 1 and cluster in ("", "process", "local"):
        return G.Gallery()
    return ShardedGallery(n, cluster or "process")
