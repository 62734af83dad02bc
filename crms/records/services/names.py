"""Names: normalisation (spelling variants, accents, punctuation), the phonetic key, the name keys kept on a
person, and likely-duplicate detection (rapidfuzz on normalised name and parentage, close birth year)."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.records.models import (
    Person,
)
from crms.records.schemas import (
    PersonCreate,
)

DUPLICATE_NAME_SCORE = 85.0
DUPLICATE_PARENTAGE_SCORE = 80.0

_MUHAMMAD = re.compile(r"\b(?:muhammad|mohammad|mohammed|muhammed|mohamed|mohamad|muhamad|mohd|muhd|md)\b")
_NON_LETTER = re.compile(r"[^\w\s]|\d|_")


def normalise_name(text: str | None) -> str:
    """Casefolded, accents and punctuation removed, common spelling variants unified, spaces collapsed."""
    if not text:
        return ""
    value = unicodedata.normalize("NFKD", text)
    value = "".join(c for c in value if not unicodedata.combining(c)).casefold()
    value = _NON_LETTER.sub(" ", value)
    value = _MUHAMMAD.sub("muhammad", value)
    for a, b in (("ee", "i"), ("oo", "u"), ("ph", "f"), ("q", "k"), ("w", "v"), ("y", "i")):
        value = value.replace(a, b)
    return " ".join(value.split())


def _skeleton(token: str) -> str:
    if not token:
        return ""
    if not token.isascii():
        return token[:8]
    rest = re.sub(r"[aeiouhy]", "", token[1:])
    out = token[0]
    for ch in rest:
        if ch != out[-1]:
            out += ch
    return out[:6]


def name_sound(given: str | None, family: str | None = None) -> str:
    """A coarse phonetic key of the first distinctive name (skipping 'Muhammad'), for candidate search."""
    tokens = normalise_name(" ".join(p for p in (given, family) if p)).split()
    significant = [t for t in tokens if t != "muhammad"] or tokens
    return _skeleton(significant[0]) if significant else ""


def _full_name_en(p: Person | PersonCreate) -> str:
    return " ".join(x for x in (p.given_name_en, p.family_name_en) if x)


def _full_name_ur(p: Person | PersonCreate) -> str:
    return " ".join(x for x in (p.given_name_ur, p.family_name_ur) if x)


def _refresh_name_keys(person: Person) -> None:
    en, ur = _full_name_en(person), _full_name_ur(person)
    parent = person.parentage_name_en or person.parentage_name_ur or ""
    person.name_key = (normalise_name(en or ur) + "|" + normalise_name(parent))[:300]
    person.name_sound = name_sound(person.given_name_en, person.family_name_en) if en else name_sound(ur)


def likely_duplicates(session: Session, person: Person, *, limit: int = 10) -> list[dict]:
    """Persons with a similar name and parentage and a close birth year (rapidfuzz on normalised names)."""
    from rapidfuzz import fuzz

    if not person.name_sound:
        return []
    q = select(Person).where(
        Person.name_sound == person.name_sound, Person.merged_into_id.is_(None), Person.id != person.id
    )
    if person.birth_year:
        q = q.where(
            (Person.birth_year.between(person.birth_year - 2, person.birth_year + 2))
            | Person.birth_year.is_(None)
        )
    name, _, parent = person.name_key.partition("|")
    out = []
    for other in session.scalars(q.limit(2000)):
        oname, _, oparent = other.name_key.partition("|")
        name_score = fuzz.token_sort_ratio(name, oname)
        if name_score < DUPLICATE_NAME_SCORE:
            continue
        parent_score = fuzz.token_sort_ratio(parent, oparent) if parent and oparent else None
        if parent_score is not None and parent_score < DUPLICATE_PARENTAGE_SCORE:
            continue
        score = name_score if parent_score is None else (name_score + parent_score) / 2
        out.append(
            {
                "person_id": other.id,
                "name": other.display_name,
                "parentage": other.parentage_name_en or other.parentage_name_ur,
                "birth_year": other.birth_year,
                "score": round(score, 1),
            }
        )
    out.sort(key=lambda d: -d["score"])
    return out[:limit]
