"""Labels for the records' internal codes (case and person-in-case statuses, roles, flags, document types,
...), in English and Urdu, kept as data in ``crms/records/data/labels.csv`` (vocabulary, code, en, ur).

People see labels; the codes stay the stable interface. The API adds ``<field>_label: {"en": ..., "ur": ...}``
beside each coded field of a person or case (:func:`labelled`), and the CLI prints the English label (and
the Urdu one where the output is for people)."""

from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files

from crms.records.vocab import (
    AddressKind,
    CaseStatus,
    DocumentType,
    FlagKind,
    Gender,
    MarkKind,
    PartyRole,
    PartyStatus,
    Relation,
)

VOCABULARIES = {
    "case_status": CaseStatus,
    "party_status": PartyStatus,
    "party_role": PartyRole,
    "flag": FlagKind,
    "document_type": DocumentType,
    "gender": Gender,
    "relation": Relation,
    "address_kind": AddressKind,
    "mark_kind": MarkKind,
}


@cache
def all_labels() -> dict[str, dict[str, dict[str, str]]]:
    """{vocabulary: {code: {"en": ..., "ur": ...}}} from the data file (read once)."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    text = files("crms.records").joinpath("data/labels.csv").read_text(encoding="utf-8")
    for row in csv.DictReader(text.splitlines()):
        out.setdefault(row["vocabulary"], {})[row["code"]] = {"en": row["en"], "ur": row["ur"]}
    return out


def label(vocabulary: str, code: str | None) -> dict[str, str] | None:
    """The {"en", "ur"} label of ``code`` (None for None; the code itself for a code the data lacks)."""
    if code is None:
        return None
    found = all_labels().get(vocabulary, {}).get(str(code))
    return found or {"en": str(code), "ur": str(code)}


def label_en(vocabulary: str, code: str | None) -> str:
    found = label(vocabulary, code)
    return found["en"] if found else ""


# Which vocabulary each coded key of the services' plain-data dicts uses.
_KEYS = {
    "case_status": "case_status",
    "role": "party_role",
    "doc_type": "document_type",
    "gender": "gender",
    "parentage_relation": "relation",
    "from": None,  # status history: handled by its owner's vocabulary
    "to": None,
}


def labelled(data, *, status_vocabulary: str = "party_status"):
    """A copy of the services' plain data (dicts and lists) with ``<key>_label`` beside every coded key:
    ``status`` (a person-in-case status, or a case status inside a case), ``case_status``, ``role``,
    ``kind`` (flags), ``active_flags``, ``doc_type``, ``gender``, ``parentage_relation`` and the status
    history's ``from``/``to``."""
    if isinstance(data, list):
        return [labelled(x, status_vocabulary=status_vocabulary) for x in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        if key == "cases" and isinstance(value, list):
            out[key] = labelled(value, status_vocabulary="party_status")
        elif key == "parties" and isinstance(value, list):
            out[key] = labelled(value, status_vocabulary="party_status")
        elif key == "flags" and isinstance(value, list):  # (a merge's ``moved`` lists the flags' ids)
            out[key] = [
                dict(f, kind_label=label("flag", f.get("kind"))) if isinstance(f, dict) else f for f in value
            ]
        elif key == "status_history" and isinstance(value, list):
            out[key] = [
                dict(
                    h,
                    from_label=label(status_vocabulary, h.get("from")),
                    to_label=label(status_vocabulary, h.get("to")),
                )
                if isinstance(h, dict)
                else h
                for h in value
            ]
        elif isinstance(value, dict | list):
            out[key] = labelled(value, status_vocabulary=status_vocabulary)
        else:  # a plain value (most of them): no call (the lookup's answer has about 70)
            out[key] = value
        if key == "status" and isinstance(value, str):
            out["status_label"] = label(status_vocabulary, value)
        elif key == "active_flags" and isinstance(value, list):
            out["active_flags_labels"] = [label("flag", k) for k in value]
        elif _KEYS.get(key) and isinstance(value, str):
            out[f"{key}_label"] = label(_KEYS[key], value)
    return out


@cache
def description_terms() -> dict[str, dict[str, dict[str, str]]]:
    """The common words of a physical description, in English and Urdu, by field (``build``,
    ``complexion``, ``eye_colour``, ``hair``, ``beard``, ``language``): {field: {English word casefolded:
    {"en", "ur"}}}, from ``data/description_terms.csv``. A description is free text; these are what the
    forms suggest and what the pages say in Urdu when a description holds one of them."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    text = files("crms.records").joinpath("data/description_terms.csv").read_text(encoding="utf-8")
    for row in csv.DictReader(text.splitlines()):
        out.setdefault(row["field"], {})[row["en"].casefold()] = {"en": row["en"], "ur": row["ur"]}
    return out


def description_word(field: str, value: str | None, lang: str) -> str:
    """``value`` of a description's ``field`` in ``lang`` where it is one of the common words (whatever its
    case or surrounding spaces) and ``lang`` is not English, else as written."""
    found = description_terms().get(field, {}).get((value or "").strip().casefold())
    return found.get(lang, value) if found and lang != "en" else (value or "")


def description_choices(field: str, lang: str) -> list[tuple[str, str]]:
    """(English word, the word in ``lang``) of the common words of a description's ``field``, as a form
    suggests them."""
    return [(t["en"], t.get(lang, t["en"])) for t in description_terms().get(field, {}).values()]
