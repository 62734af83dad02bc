"""Parse offence sections as police write them in FIRs into (statute, section, sub-clause).

Handles e.g. "392/411/34 PPC", "302, 324, 34 PPC", "9(c) CNSA", "9-C CNSA 1997", "13-E Arms Ordinance",
"13/20/65" (section 13 of the Arms Ordinance, W.P. Ordinance XX of 1965), "324 PPC & 13-E AO", "489-F PPC",
"337-A(ii) PPC", "U/S 302 PPC", "PPC 302/34", and Urdu "زیر دفعہ 302/34 ت پ" (also with Urdu or
Arabic-Indic digits).

A letter after a section number is part of the section when the statute has such a section ("489-F",
"13-E") and a sub-clause otherwise ("9-C" -> 9(c), "302-B" -> 302(b)). Without a session the package's data
files decide; with a session the tables do, and every section is validated: an unknown statute or section
raises ValidationError(field="sections") naming it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.errors import ValidationError, rule_error

# Other names of the packaged statutes (a statute's code always works too). Spaces match any spacing or
# hyphen; dots after letters are dropped before matching ("Cr.P.C." -> "CrPC", "ت۔پ" -> "تپ").
ALIASES: dict[str, tuple[str, ...]] = {
    "PPC": ("PPC", "P P C", "Pakistan Penal Code", "Penal Code", "ت پ", "تپ", "تعزیرات پاکستان", "تعزیرات"),
    "CRPC": (
        "CrPC",
        "Cr PC",
        "Code of Criminal Procedure",
        "Criminal Procedure Code",
        "ض ف",
        "ضف",
        "ضابطہ فوجداری",
    ),
    "CNSA": (
        "CNSA",
        "CNS Act",
        "CNSA Act",
        "C N S A",
        "Control of Narcotic Substances Act",
        "Control of Narcotics Substances Act",
        "انسداد منشیات",
    ),
    "AO1965": (
        "AO",
        "A O",
        "Arms Ordinance",
        "Arms Ord",
        "Pakistan Arms Ordinance",
        "West Pakistan Arms Ordinance",
        "آرمز آرڈیننس",
        "اسلحہ آرڈیننس",
    ),
    "ATA": ("ATA", "ATA Act", "Anti Terrorism Act", "Anti Terrorist Act", "انسداد دہشت گردی"),
    "PO1979": (
        "PO",
        "Prohibition Order",
        "Hadd Order",
        "Prohibition (Enforcement of Hadd) Order",
        "Prohibition Enforcement of Hadd Order",
        "EHO",
        "امتناع حد",
    ),
    "FA1946": ("FA", "Foreigners Act", "Foreigner Act", "فارنرز ایکٹ"),
    "EO1979": ("EO", "Emigration Ordinance", "Emigration Ord"),
    "CUSTOMS": ("Customs Act", "Customs"),
    "PECA": ("PECA", "Prevention of Electronic Crimes Act", "پیکا"),
    "TA1885": ("Telegraph Act", "Pakistan Telegraph Act", "TA"),
}

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_SECTION_RE = (
    r"(?P<num>\d{1,4})"
    r"(?:\s*-\s*(?P<s1>[a-z]{1,2})(?![a-z])|(?P<s2>[a-z]{1,2})(?![a-z])|\s+(?P<s3>[a-z])(?=\s*(?:[/,&;]|$)|\s+[a-z]{2}))?"
    r"(?P<clauses>(?:\s*\(\s*[0-9a-z]{1,5}\s*\)|(?<=\))\d{1,3})*)"
)
_STRONG = re.compile(r"&|and|;|\+|\||r\s*/\s*w|read\s+with|with|و|؛", re.IGNORECASE)
_AO_CITE = r"(?P<ao>(?P<ao_num>\d{1,3})(?:\s*-?\s*(?P<ao_suf>[a-z]{1,2}))?\s*[/\-]\s*20\s*[/\-]\s*65)(?!\d)"
_CONNECTORS = (
    r"u\s*/\s*s{1,2}|under\s+sections?|sections?|secs?|ss|s|r\s*/\s*w|read\s+with|with|and|or|of|the|"
    r"&|,|/|;|\+|-|\||:|زیر\s*دفعات|زیر\s*دفعہ|زیردفعہ|دفعات|دفعہ|تحت|و|،|؛"
)


@dataclass(frozen=True)
class Offence:
    statute: str
    section: str
    subclause: str | None = None

    def __str__(self) -> str:
        clause = f"({self.subclause})" if self.subclause else ""
        return f"{self.section}{clause} {self.statute}"


def format_offences(offences: list[Offence]) -> str:
    """Canonical text, grouped by statute in order of appearance: '392/411/34 PPC; 13-E AO1965'."""
    groups: dict[str, list[str]] = {}
    for o in offences:
        groups.setdefault(o.statute, []).append(f"{o.section}({o.subclause})" if o.subclause else o.section)
    return "; ".join(f"{'/'.join(secs)} {statute}" for statute, secs in groups.items())


def _alias_pattern(alias: str) -> str:
    parts = [re.escape(p) for p in re.split(r"[\s\-]+", alias.strip()) if p]
    return r"[\s\-]*".join(parts)


class OffenceParser:
    """Holds the statute aliases and known sections; build once (``from_session``) for bulk parsing."""

    def __init__(self, sections: dict[str, set[str]], validate: bool):
        self.sections = sections
        self.validate = validate
        names: dict[str, str] = {}
        for code in sections:
            names[code.casefold()] = code
        for code, aliases in ALIASES.items():
            if code in sections:
                for alias in aliases:
                    names.setdefault(alias.casefold(), code)
        self._alias_of = {re.sub(r"[\s\-]+", " ", k): v for k, v in names.items()}
        alternatives = sorted(names, key=len, reverse=True)
        statute_re = "|".join(_alias_pattern(a) for a in alternatives)
        self._token = re.compile(
            rf"(?P<ws>\s+)|{_AO_CITE}|(?P<stat>(?<!\w)(?:{statute_re})(?!\w))"
            rf"(?:\s*,?\s*(?P<year>(?:18|19|20)\d\d)(?!\d))?|"
            rf"(?P<sec>(?<![\w)]){_SECTION_RE})|(?P<conn>(?<!\w)(?:{_CONNECTORS})(?!\w)|[&,/;+\-|:،؛])",
            re.IGNORECASE,
        )

    @classmethod
    def packaged(cls) -> OffenceParser:
        from crms.records.reference.loader import packaged_data

        sections: dict[str, set[str]] = {s["code"]: set() for s in packaged_data().statutes}
        for row in packaged_data().statute_sections:
            sections[row["statute_code"]].add(row["section"])
        return cls(sections, validate=False)

    @classmethod
    def from_session(cls, session: Session) -> OffenceParser:
        """A validating parser for the session's statute tables (parsers are cached by table content, so
        an administrator's edit takes effect at once and unchanged tables cost one query)."""
        from sqlalchemy import literal, union_all

        from crms.records.reference.models import Statute, StatuteSection

        rows = session.execute(
            union_all(
                select(Statute.code, literal("")),
                select(StatuteSection.statute_code, StatuteSection.section),
            )
        ).all()
        return _cached_parser(frozenset((str(a), str(b)) for a, b in rows))

    def _statute_code(self, text: str) -> str:
        key = re.sub(r"[\s\-]+", " ", text.strip().casefold())
        return self._alias_of[key]

    def _section(self, statute: str, m: dict) -> Offence:
        num = m["num"]
        suffix = (m.get("s1") or m.get("s2") or m.get("s3") or "").upper()
        clauses = [
            c.lower()
            for pair in re.findall(r"\(\s*([0-9a-z]{1,5})\s*\)|(\d+)", m.get("clauses") or "", re.I)
            for c in pair
            if c
        ]
        known = self.sections.get(statute, set())
        section = num
        if suffix:
            if f"{num}-{suffix}" not in known and num in known and len(suffix) == 1:
                clauses.insert(0, suffix.lower())  # "9-C" -> 9(c), "302-B" -> 302(b)
            else:
                section = f"{num}-{suffix}"
        return Offence(statute, section, ")(".join(clauses) if clauses else None)

    def parse(self, text: str) -> list[Offence]:
        if text is None or not str(text).strip():
            raise ValidationError("no offence sections given", field="sections")
        original = str(text)
        norm = original.translate(_DIGITS)
        norm = re.sub(r"(?<=[^\W\d_])[.۔](?=\s*[^\W\d_])", "", norm)  # Cr.P.C. -> CrPC, ت۔پ -> تپ
        norm = re.sub(r"[.۔]", " ", norm)
        # Elements: ("stat", code) | ("run", [section matches]) | ("ao", match). A run is a list of sections
        # separated by ',' or '/'; '&', 'and', 'r/w', ';' end it.
        elements: list[list] = []
        pos = 0
        while pos < len(norm):
            m = self._token.match(norm, pos)
            if m is None or m.end() == pos:
                bad = re.match(r"\S+", norm[pos:])
                word = bad.group(0) if bad else norm[pos]
                message = f"sections: cannot read '{word}' in '{original.strip()}' (unknown statute or text)"
                raise rule_error("sections", "sections_unreadable", message, word=word)
            pos = m.end()
            if m.group("ao"):
                elements.append(["ao", {"num": m.group("ao_num"), "s1": m.group("ao_suf")}])
            elif m.group("stat"):
                elements.append(["stat", self._statute_code(m.group("stat"))])
            elif m.group("sec"):
                if elements and elements[-1][0] == "run" and not elements[-1][2]:
                    elements[-1][1].append(m.groupdict())
                else:
                    elements.append(["run", [m.groupdict()], False])  # [kind, sections, closed]
            elif m.group("conn") and _STRONG.fullmatch(m.group("conn").strip()):
                if elements and elements[-1][0] == "run":
                    elements[-1][2] = True
        if not any(e[0] in ("run", "ao") for e in elements):
            message = f"sections: no section numbers in '{original.strip()}'"
            raise rule_error("sections", "sections_none", message, text=original.strip())
        if "AO1965" not in self.sections and any(e[0] == "ao" for e in elements):
            raise ValidationError(
                "sections: the Arms Ordinance 1965 is not in the statute table", field="sections"
            )

        # Each statute takes the unclaimed run just before it ("302/34 PPC"), else the run just after it
        # ("PPC 302/34"). A run left over goes to the nearest statute before it (else after it).
        owner: dict[int, str] = {}
        for k, e in enumerate(elements):
            if e[0] != "stat":
                continue
            if k > 0 and elements[k - 1][0] == "run" and k - 1 not in owner:
                owner[k - 1] = e[1]
            elif k + 1 < len(elements) and elements[k + 1][0] == "run":
                owner[k + 1] = e[1]
        statutes = [(k, e[1]) for k, e in enumerate(elements) if e[0] == "stat"]
        result: list[Offence] = []
        for k, e in enumerate(elements):
            if e[0] == "ao":
                result.append(self._section("AO1965", e[1]))
            elif e[0] == "run":
                statute = owner.get(k)
                if statute is None:
                    before = [code for j, code in statutes if j < k]
                    after = [code for j, code in statutes if j > k]
                    statute = before[-1] if before else (after[0] if after else None)
                if statute is None:
                    nums = ", ".join(p["sec"].strip() for p in e[1])
                    said = original.strip()
                    message = f"sections: no statute given for {nums} in '{said}' (e.g. '302 PPC')"
                    raise rule_error("sections", "sections_no_statute", message, sections=nums)
                result.extend(self._section(statute, p) for p in e[1])
        seen: set[Offence] = set()
        unique = [o for o in result if not (o in seen or seen.add(o))]
        if self.validate:
            unknown = [o for o in unique if o.section not in self.sections.get(o.statute, set())]
            if unknown:
                names = ", ".join(f"{o.statute} {o.section}" for o in unknown)
                message = f"sections: unknown section {names} in '{original.strip()}'"
                raise rule_error("sections", "sections_unknown", message, sections=names)
        return unique


_PACKAGED: OffenceParser | None = None


@lru_cache(maxsize=16)
def _cached_parser(rows: frozenset[tuple[str, str]]) -> OffenceParser:
    sections: dict[str, set[str]] = {}
    for statute, section in rows:
        bucket = sections.setdefault(statute, set())
        if section:
            bucket.add(section)
    return OffenceParser(sections, validate=True)


def parse_offences(text: str, session: Session | None = None) -> list[Offence]:
    """Parse an FIR's offence text. With a session, sections are validated against the statute tables."""
    global _PACKAGED
    if session is not None:
        return OffenceParser.from_session(session).parse(text)
    if _PACKAGED is None:
        _PACKAGED = OffenceParser.packaged()
    return _PACKAGED.parse(text)
