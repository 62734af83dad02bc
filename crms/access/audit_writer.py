"""Group commit of audited reads' entries: the entries of reads that finished at about the same time are
written in one transaction.

An audited read (a CNIC lookup through the API) reads on the event loop in a transaction that writes nothing,
its audit entry collected instead of written (:func:`crms.access.audit.defer_entries`); the adapter then
hands the entries here (:meth:`AuditWriter.submit`) and gives its answer only once they are committed. The
reads handled in one turn of the loop are written together at the start of its next turn, in one transaction
(the search rate-limit tokens, then the entries with their keyed hash chain), on the loop's own thread. So
the database's write lock (SQLite) or the audit head's row lock (PostgreSQL) is taken once per batch instead
of once per read, and the commit, the WAL pages and the audit-head file are written once per batch. (A
writer thread fed by the loop was measured first: the hand-overs between the two threads cost more CPU on
two busy cores than the batches saved: docs/BENCHMARKS.md.)

What does not change: no answer without its audit entry committed (a failed write fails every read of the
batch: their callers answer an error, never the data), one chain of entries with the same hash and MAC, and
the search rate limit. A read refused by the rate limit gets :class:`~crms.errors.RateLimited`, its refusal
audited (``access.refused``) in the same transaction instead of its entry; the other reads of the batch are
not affected.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from concurrent.futures import Future
from dataclasses import dataclass

from crms.access import audit


@dataclass
class _Batch:
    """One read's entries, where its request went (``METHOD /path``, for a refusal's entry), and the future
    its request waits on."""

    entries: list[audit.DeferredEntry]
    where: str
    done: asyncio.Future | Future

    def tell(self, error: BaseException | None = None) -> None:
        if self.done.done():  # the request was cancelled (its client went away): written all the same
            return
        if error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)


class AuditWriter:
    """Writes the deferred audit entries of one database in batches, on the event loop that submits them."""

    def __init__(self, db) -> None:
        self._db = db
        self._waiting: list[_Batch] = []  # for the loop's next turn

    def submit(self, entries: list[audit.DeferredEntry], *, where: str) -> asyncio.Future:
        """Queue one read's entries for the next turn of the running event loop, where every batch submitted
        during this turn goes into one transaction (the loop waits while it is written, as it waited for a
        lookup's own write). The future is done (None) once they are committed, or holds why not
        (RateLimited for a refused search, the database's error for a failed write). ``where`` names the
        action in a refusal's entry, as :func:`crms.access.work.unit_of_work` does."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if not entries:
            done.set_result(None)
            return done
        if not self._waiting:
            loop.call_soon(self._write_waiting)
        self._waiting.append(_Batch(list(entries), where, done))
        return done

    def _write_waiting(self) -> None:
        batches, self._waiting = self._waiting, []
        self.write_batches(batches)

    def write_batches(self, batches: list[_Batch]) -> None:
        """One transaction for ``batches`` (a few statements whatever their number:
        :func:`crms.access.audit.write_deferred_reads`), then each one told its outcome."""
        try:
            with self._db.transaction() as session:
                reads, wheres = [b.entries for b in batches], [b.where for b in batches]
                refusals = audit.write_deferred_reads(session, reads, wheres)
        except BaseException as exc:  # nothing of the batch was written: every read in it fails
            for batch in batches:
                batch.tell(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for batch, refused in zip(batches, refusals, strict=True):
            batch.tell(refused)


_writers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer_for(db) -> AuditWriter:
    """The process's writer for ``db`` (one per Database object; a server worker has one event loop)."""
    with _writers_lock:
        writer = _writers.get(db)
        if writer is None:
            writer = _writers[db] = AuditWriter(db)
        return writer
