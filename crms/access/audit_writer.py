"""Group commit of audited reads' entries: the entries of reads that finished at about the same time are
written in one transaction.

An audited read (a CNIC lookup through the API) reads in a transaction that writes nothing, its audit entry
collected instead of written (:func:`crms.access.audit.defer_entries`); the adapter then hands the entries
here and gives its answer only once they are committed. Every batch waiting is written in one transaction
(the search rate-limit tokens, the entries with their keyed hash chain), committed, and each waiting read
told. Two ways to wait: :meth:`AuditWriter.submit`, one thread per process and database that writes while
the next reads' entries gather (reads run on worker threads: PostgreSQL), and
:meth:`AuditWriter.submit_here`, on the event loop itself (SQLite, whose lookups read on the loop: the reads
handled in one turn of the loop are written together at the start of the next, without a hand-over to
another thread, which on two busy cores costs more than it saves). So the database's write lock (SQLite)
or the audit head's row lock (PostgreSQL) is taken once per batch instead of once per read, and the commit,
the WAL pages and the audit-head file are written once per batch.

What does not change: no answer without its audit entry committed (a failed write fails every read of the
batch: their callers answer an error, never the data), one chain of entries with the same hash and MAC, and
the search rate limit. A read refused by the rate limit gets :class:`~crms.errors.RateLimited`, its refusal
audited (``access.refused``) in the same transaction instead of its entry; the other reads of the batch are
not affected.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import weakref
from concurrent.futures import Future
from dataclasses import dataclass

from crms.access import audit
from crms.errors import RateLimited


@dataclass
class _Batch:
    entries: list[audit.DeferredEntry]
    where: str
    done: Future | asyncio.Future

    def tell(self, error: BaseException | None = None) -> None:
        if self.done.done():  # an asyncio future whose request was cancelled (the client went away)
            return
        if error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)


class AuditWriter:
    """Writes deferred audit entries of one database in batches, on a thread of its own (started at the
    first :meth:`submit`)."""

    def __init__(self, db) -> None:
        self._db = db
        self._waiting: queue.SimpleQueue[_Batch] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None
        self._here: list[_Batch] = []  # submit_here's batches, for the loop's next turn

    def submit(self, entries: list[audit.DeferredEntry], *, where: str) -> Future:
        """Queue one read's entries; the Future is done (None) once they are committed, or holds why not
        (RateLimited for a refused search, the database's error for a failed write). ``where`` names the
        action in a refusal's entry, as :func:`crms.access.work.unit_of_work` does."""
        done: Future = Future()
        if not entries:
            done.set_result(None)
            return done
        self._waiting.put(_Batch(list(entries), where, done))
        if self._thread is None or not self._thread.is_alive():  # not started yet, or not in this process
            with self._start:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="crms-audit-writer", daemon=True)
                    self._thread.start()
        return done

    def submit_here(self, entries: list[audit.DeferredEntry], *, where: str) -> asyncio.Future:
        """As :meth:`submit`, written on the running event loop: every batch submitted during this turn of the
        loop goes into one transaction at the start of its next turn (which blocks the loop while it writes,
        as a read-and-write on the loop did). One event loop per writer."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if not entries:
            done.set_result(None)
            return done
        if not self._here:
            loop.call_soon(self._write_here)
        self._here.append(_Batch(list(entries), where, done))
        return done

    def _write_here(self) -> None:
        batches, self._here = self._here, []
        self.write_batches(batches)

    def write(self, entries: list[audit.DeferredEntry], *, where: str) -> None:
        """:meth:`submit` and wait."""
        self.submit(entries, where=where).result()

    def _run(self) -> None:
        while True:
            batches = [self._waiting.get()]
            while True:
                try:
                    batches.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            self.write_batches(batches)

    def write_batches(self, batches: list[_Batch]) -> None:
        """One transaction for ``batches``, then each one told its outcome."""
        refused: dict[int, RateLimited] = {}
        try:
            with self._db.transaction() as session:
                for i, batch in enumerate(batches):
                    try:
                        audit.write_deferred(session, batch.entries)
                    except RateLimited as exc:  # raised before any of its entries is written
                        refused[i] = exc
                        _audit_refusal(session, batch, exc)
        except BaseException as exc:  # nothing of the batch was written: every read in it fails
            for batch in batches:
                batch.tell(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for i, batch in enumerate(batches):
            batch.tell(refused.get(i))


def _audit_refusal(session, batch: _Batch, exc: RateLimited) -> None:
    """As :func:`crms.access.work.unit_of_work` audits a refusal, in the batch's transaction."""
    who = batch.entries[0].principal
    audit.record(session, who, "access.refused", detail=exc.message, query=batch.where, outcome="refused")


_writers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer_for(db) -> AuditWriter:
    """The process's writer for ``db`` (one per Database object)."""
    with _writers_lock:
        writer = _writers.get(db)
        if writer is None:
            writer = _writers[db] = AuditWriter(db)
        return writer
