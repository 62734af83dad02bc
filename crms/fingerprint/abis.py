"""A matcher port with the verbs of an ABIS (automated biometric identification system), after MOSIP's ABIS
API: ``insert`` a reference (one person's fingers), ``identify`` (a reference already inserted, or probe
fingers) against the gallery, ``delete`` a reference, ``count`` the references. CRMS talks to the port only,
so a commercial ABIS can replace the built-in matcher behind it.

:class:`BuiltinABIS` is the port over the built-in gallery (one :class:`~crms.fingerprint.gallery.Gallery`
or its shards). References are strings (MOSIP's referenceId); the gallery keys persons by number, so the port
keeps one number per reference (not one object per finger).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from crms.fingerprint import gallery as G
from crms.fingerprint.template import Template


@dataclass(frozen=True)
class AbisCandidate:
    reference_id: str
    score: float
    fingers: list[dict]  # {"probe", "position", "score"}


@dataclass(frozen=True)
class AbisAnswer:
    candidates: list[AbisCandidate]
    threshold: float  # decision threshold for target_fpir at the gallery's size
    hits: list[AbisCandidate]  # candidates at or above it


class MatcherPort(Protocol):
    def insert(self, reference_id: str, fingers: Sequence[tuple[int, Template]]) -> int: ...

    def identify(
        self,
        *,
        reference_id: str | None = None,
        probes: Sequence[tuple[int, Template]] | None = None,
        max_results: int = 20,
        target_fpir: float = 0.01,
    ) -> AbisAnswer: ...

    def delete(self, reference_id: str) -> bool: ...

    def count(self) -> int: ...


class AbisError(G.GalleryError):
    pass


class BuiltinABIS:
    """The built-in matcher behind the port."""

    def __init__(self, gallery: G.Gallery | None = None) -> None:
        self.gallery = gallery if gallery is not None else G.Gallery()
        self._ids: dict[str, int] = {}
        self._refs: dict[int, str] = {}
        self._next = 1
        self._fingers: dict[str, list[tuple[int, Template]]] = {}

    def insert(self, reference_id: str, fingers: Sequence[tuple[int, Template]]) -> int:
        """Insert (or replace) a reference: its fingers as (ANSI/NIST position 1-10 or 0, template)."""
        if not reference_id:
            raise AbisError("referenceId is required", field="referenceId")
        if not 1 <= len(fingers) <= 10:
            raise AbisError(f"{reference_id}: 1 to 10 fingers, got {len(fingers)}", field="fingers")
        if reference_id in self._ids:
            self.delete(reference_id)
        pid = self._next
        items = [(pid * 16 + i, pid, pos, t) for i, (pos, t) in enumerate(fingers)]
        self.gallery.insert_many(items)  # checked whole before it changes anything
        self._next += 1
        self._ids[reference_id], self._refs[pid] = pid, reference_id
        self._fingers[reference_id] = list(fingers)
        return len(items)

    def delete(self, reference_id: str) -> bool:
        pid = self._ids.pop(reference_id, None)
        if pid is None:
            return False
        self._refs.pop(pid, None)
        self._fingers.pop(reference_id, None)
        self.gallery.delete_person(pid)
        return True

    def count(self) -> int:
        return len(self._ids)

    def identify(
        self,
        *,
        reference_id: str | None = None,
        probes: Sequence[tuple[int, Template]] | None = None,
        max_results: int = 20,
        target_fpir: float = 0.01,
    ) -> AbisAnswer:
        """Identify a reference already inserted (against all others) or probe fingers (against all)."""
        if (reference_id is None) == (probes is None):
            raise AbisError("give either referenceId or probe fingers", field="referenceId")
        exclude = None
        if reference_id is not None:
            if reference_id not in self._fingers:
                raise AbisError(f"unknown referenceId {reference_id!r}", field="referenceId")
            probes = self._fingers[reference_id]
            exclude = self._ids[reference_id]
        fingers = [G.ProbeFinger(t, pos, f"finger {i + 1}") for i, (pos, t) in enumerate(probes or [])]
        r = self.gallery.search(fingers, top=max_results + (1 if exclude else 0), fpir=target_fpir)
        cands = [
            AbisCandidate(
                self._refs[c.person],
                c.score,
                [{"probe": f["probe"], "position": f["position"], "score": f["score"]} for f in c.fingers],
            )
            for c in r.candidates
            if c.person != exclude and c.person in self._refs
        ][:max_results]
        return AbisAnswer(cands, r.threshold, [c for c in cands if c.score >= r.threshold])
