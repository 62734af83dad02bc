"""Browser pages (server-rendered, Jinja2, English and Urdu). ``install(app)`` adds them to the FastAPI app.

Thin adapter: every page calls the same services as the API with the signed-in user's Principal; no rule
lives here or in a template. Sessions and CSRF: crms.access.sessions (cookie ``crms_session``; every POST
carries the session's CSRF token in the form field ``csrf_token``). One transaction per request: a refused
or invalid form writes nothing and comes back with the error next to the field, in the user's language.
How to add a page: docs/WEB.md.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import re
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from crms.access.principal import Principal
from crms.api.deps import biometric_store, get_db
from crms.api.params import IdPath, whole_number
from crms.api.serving import (
    IMPORT_FILE_LIMIT,
    MULTIPART_OVERHEAD,
    body_limit,
    local_path,
    sign_in_again,
)
from crms.biometrics.marks import REASONS
from crms.errors import (
    AuthenticationError,
    Conflict,
    CrmsError,
    NotFound,
    PasswordChangeRequired,
    PermissionDenied,
    RateLimited,
    ValidationError,
)
from crms.faces.photos import MAX_BYTES as PHOTO_MAX_BYTES
from crms.records import importer
from crms.records.cnic import ascii_digits, is_cnic_like
from crms.records.labels import description_choices, description_word
from crms.web.audit_actions import ACTIONS as AUDIT_ACTIONS
from crms.web.audit_actions import DETAIL_FORMS as AUDIT_DETAIL_FORMS
from crms.web.audit_actions import DETAIL_NUMBERS as AUDIT_DETAIL_NUMBERS
from crms.web.audit_actions import DETAILS as AUDIT_DETAILS
from crms.web.audit_actions import RECORD_TYPES as AUDIT_RECORD_TYPES
from crms.web.i18n import N_, RTL, Formatter, choose, translations

_log = logging.getLogger("crms.web")
STATIC = Path(__file__).parent / "static"
LANG_COOKIE = "crms_lang"
_env = Environment(loader=PackageLoader("crms.web", "templates"), autoescape=select_autoescape(["html"]))


# The field names the services report (ValidationError.field), as the forms label them.
FIELD_LABELS = {
    "username": N_("Username"),
    "password": N_("Password"),
    "new_password": N_("New password"),
    "new_password_again": N_("New password again"),
    "pin": N_("PIN"),
    "totp": N_("One-time code"),
    "cnic": N_("CNIC"),
    "reason": N_("Reason"),
    "given_name_en": N_("Given name (English)"),
    "family_name_en": N_("Family name (English)"),
    "given_name_ur": N_("Given name (Urdu)"),
    "family_name_ur": N_("Family name (Urdu)"),
    "parentage_name_en": N_("Father's / husband's name (English)"),
    "parentage_name_ur": N_("Father's / husband's name (Urdu)"),
    "date_of_birth": N_("Date of birth"),
    "gender": N_("Gender"),
    "phone": N_("Phone"),
    "police_station": N_("Police station"),
    "district": N_("District"),
    "fir_number": N_("FIR number"),
    "registered_on": N_("Registered on"),
    "year": N_("Year"),
    "sections": N_("Sections"),
    "status": N_("Status"),
    "effective_on": N_("Effective on"),
    "note": N_("Note"),
    "person_id": N_("Person number"),
    "role": N_("Role"),
    "arrested_on": N_("Arrested on"),
    "place": N_("Place"),
    "survivor_id": N_("Record to keep"),
    "merged_id": N_("Record to merge into it"),
    # a merge's history: the merged record's entries that the survivor had already (not moved)
    "dropped_phones": N_("Phones already on the record (not moved)"),
    "dropped_aliases": N_("Aliases already on the record (not moved)"),
    "dropped_addresses": N_("Addresses already on the record (not moved)"),
    "image": N_("Fingerprint image"),
    "ppi": N_("Scanner resolution (ppi)"),
    "probe": N_("Finger image"),  # one of the identification form's prints (probe_N)
    "file": N_("Register file"),
    "unit": N_("Unit"),
    "full_name": N_("Full name"),
    "csrf_token": N_("Form"),
    "enrolment_code": N_("Enrolment code"),
    "address": N_("Your network address"),
    "user": N_("User"),
    "court": N_("Court"),
    "mark_text": N_("Mark description"),
    "mark_location": N_("Where on the body"),
    "mark_kind": N_("Mark kind"),
    "beard": N_("Beard"),
    "eye_colour": N_("Eye colour"),
    "languages": N_("Languages"),
    "hair": N_("Hair"),
    "complexion": N_("Complexion"),
    "build": N_("Build"),
    "height_cm": N_("Height (cm)"),
    "observed_on": N_("Observed on"),
    "text": N_("Text"),
    "kind": N_("Kind"),
    "name": N_("Name"),
    "script": N_("Script"),
    "issuing_country": N_("Issuing country"),
    "number": N_("Number"),
    "doc_type": N_("Document type"),
    "convicted_on": N_("Convicted on"),
    "sentence": N_("Sentence"),
    "photo": N_("Photo"),
    "language": N_("Language"),
    "caste": N_("Caste"),
    "parentage_relation": N_("Relation"),
    "occurred_on": N_("Occurred on"),
    "notes": N_("Notes"),
    "birth_year": N_("Year of birth"),
    "birth_year_estimated": N_("Year of birth estimated"),
    "nationality": N_("Nationality"),
    "since": N_("From"),  # the audit viewer's filters
    "until": N_("To"),
    "outcome": N_("Outcome"),
}
# Stored codes shown to people (statuses, roles, kinds), as the pages name them.
TERMS = {
    "added_document": N_("Identity document added"),
    "added_alias": N_("Alias added"),
    "added_address": N_("Address added"),
    "added_phone": N_("Phone added"),
    "added_description": N_("Description added"),
    "corrected_description": N_("Description corrected"),
    "removed_document": N_("Identity document removed"),
    "removed_alias": N_("Alias removed"),
    "removed_address": N_("Address removed"),
    "removed_phone": N_("Phone removed"),
    "removed_case_link": N_("Link to a case removed"),
    "outcome_ok": N_("done"),
    "outcome_refused": N_("refused"),
    "outcome_not_found": N_("not found"),
    "outcome_alert": N_("alert"),
    "outcome_failed": N_("failed"),
    "registered": N_("registered"),
    "under_investigation": N_("under investigation"),
    "challan_complete": N_("challan complete"),
    "challan_interim": N_("interim challan"),
    "challan_512": N_("challan u/s 512 CrPC"),
    "cancelled": N_("cancelled"),
    "untraced": N_("untraced"),
    "under_trial": N_("under trial"),
    "convicted": N_("convicted"),
    "acquitted": N_("acquitted"),
    "compromised": N_("compromised"),
    "accused": N_("accused"),
    "complainant": N_("complainant"),
    "victim": N_("victim"),
    "witness": N_("witness"),
    "named": N_("named"),
    "arrested": N_("arrested"),
    "on_bail": N_("on bail"),
    "absconder": N_("absconder"),
    "proclaimed_offender_a": N_("proclaimed offender (A)"),
    "proclaimed_offender_b": N_("proclaimed offender (B)"),
    "discharged": N_("discharged"),
    "pending": N_("pending"),
    "enrolled": N_("enrolled"),
    "failed": N_("failed"),
    "present": N_("present address"),
    "permanent": N_("permanent address"),
    "administrator": N_("administrator"),
    "cro_operator": N_("CRO operator"),
    "fingerprint_examiner": N_("fingerprint examiner"),
    "investigating_officer": N_("investigating officer"),
    "sho": N_("SHO"),
    "supervisor": N_("supervisor"),
    "auditor": N_("auditor"),
    "sms_officer": N_("SMS officer"),
    "scar": N_("scar"),
    "mark": N_("mark"),
    "tattoo": N_("tattoo"),
    "latin": N_("English script"),
    "urdu": N_("Urdu script"),
    "s/o": N_("son of"),
    "d/o": N_("daughter of"),
    "w/o": N_("wife of"),
    "M": N_("Male"),
    "F": N_("Female"),
    "X": N_("Not recorded"),
    "front": N_("front view"),
    "left": N_("left side"),
    "right": N_("right side"),
    "amputated": N_("amputated"),
    "missing": N_("missing"),
    "bandaged": N_("bandaged"),
    "unable": N_("unable to print"),
    "not_captured": N_("not captured"),
    "captured": N_("captured"),
    "marked": N_("cannot be printed"),
    # where a print's resolution came from (crms.biometrics.enrolment.capture_resolution)
    "ppi_caller": N_("as given"),
    "ppi_file": N_("recorded in the file"),
    "ppi_estimated": N_("estimated from the ridge spacing"),
    "ppi_default": N_("assumed: the file gives none and no ridges could be measured"),
}
# The audit page's actions and kinds of record (crms/web/audit_actions.py), as its terms.
TERMS |= {f"action_{code}": words for code, words in AUDIT_ACTIONS.items()}
TERMS |= {f"record_{code}": words for code, words in AUDIT_RECORD_TYPES.items()}
TERMS |= {f"detail_{code}": words for code, words in AUDIT_DETAILS.items()}
FINGERS = {
    1: N_("Right thumb"),
    2: N_("Right index"),
    3: N_("Right middle"),
    4: N_("Right ring"),
    5: N_("Right little"),
    6: N_("Left thumb"),
    7: N_("Left index"),
    8: N_("Left middle"),
    9: N_("Left ring"),
    10: N_("Left little"),
}
FIELD_LABELS.update({f"finger_{p}": name for p, name in FINGERS.items()})  # the enrolment form's boxes


# ------------------------------------------------------------------------------------------ rendering


def _lang(request: Request) -> str:
    """The signed-in user's chosen language, else the browser's (the cookie set by the one-tap switch, then
    the Accept-Language header), else English."""
    chosen = getattr(request.state, "lang", None)
    if chosen:
        return choose(chosen)
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie:
        return choose(cookie)
    return _accept_language(request.headers.get("accept-language", ""))


def _accept_language(header: str) -> str:
    """The first of our languages in an Accept-Language header, by the weights it gives (RFC 9110)."""
    best, best_q = "en", 0.0
    for i, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if code in ("en", "ur") and q - i * 1e-6 > best_q:
            best, best_q = code, q - i * 1e-6
    return best


def _secure_headers(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    )
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


# What the service worker keeps for offline use (static/sw.js SHELL) and what the offline page is made of.
SHELL_FILES = ("app.css", "app.js", "icon.svg", "manifest.webmanifest")
SHELL_TEMPLATES = ("offline.html", "base.html")


@functools.cache
def shell_version() -> str:
    """A digest of the app shell's files: the service worker's cache is named by it and the pages ask for
    ``/static/…?v=`` it, so that a new release's stylesheet and script reach phones that installed the app
    (the worker answers the shell from its cache; a changed sw.js makes the browser install the new one)."""
    digest = hashlib.sha256()
    templates = Path(__file__).parent / "templates"
    for path in [STATIC / n for n in SHELL_FILES] + [templates / n for n in SHELL_TEMPLATES]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def service_worker_source() -> str:
    """static/sw.js with its cache named by :func:`shell_version`."""
    source = (STATIC / "sw.js").read_text(encoding="utf-8")
    named = source.replace('const CACHE = "crms-shell";', f'const CACHE = "crms-{shell_version()}";')
    if named == source:
        raise RuntimeError('static/sw.js no longer declares const CACHE = "crms-shell"')
    return named


def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = _lang(request)
    trans = translations(lang)
    principal: Principal | None = getattr(request.state, "principal", None)
    ctx.setdefault("errors", {})

    def term(code: str | None) -> str:
        return trans.gettext(TERMS[code]) if code in TERMS else (code or "")

    html = _env.get_template(template).render(
        _=trans.gettext,
        lang=lang,
        dir="rtl" if lang in RTL else "ltr",
        fmt=Formatter(lang),
        who=principal,
        can=_can(principal),
        csrf=getattr(request.state, "csrf", ""),
        path=request.url.path,
        here=quote(str(request.url.path) + (("?" + request.url.query) if request.url.query else ""), safe=""),
        field_label=lambda name: trans.gettext(
            FIELD_LABELS.get(_row_free(name)) or FIELD_LABELS.get(name or "", name or "")
        ),
        fingers=FINGERS,
        term=term,
        described=lambda field, value: description_word(field, value, lang),
        description_choices=lambda field: description_choices(field, lang),
        service_text=lambda text: trans.gettext(text) if text in SERVICE_TEXTS else text,
        options=lambda codes, prefix="": [(c, term(prefix + c)) for c in codes],  # a select's, by their terms
        **ctx,
    )
    return _secure_headers(HTMLResponse(html, status_code=status))


def _can(principal: Principal | None) -> Callable[[str], bool]:
    from crms.access.policy import Permission, has_permission

    def can(permission: str) -> bool:
        return principal is not None and has_permission(principal, Permission(permission))

    return can


# The kinds of error the services report (a detail's ``type``: Pydantic's, or a schema's own in
# crms.records.schemas) as the pages say them; %(n)s is the detail's ``limit``. Other kinds, and a service's
# own refusals, are shown in the service's English words.
PLAIN_MESSAGES = {
    "missing": N_("Required"),
    "string_too_short": N_("At least %(n)s characters"),
    "string_too_long": N_("At most %(n)s characters"),
    "too_long": N_("At most %(n)s entries"),
    "int_parsing": N_("A whole number is expected"),
    "int_type": N_("A whole number is expected"),
    "int_from_float": N_("A whole number is expected"),
    "float_parsing": N_("A number is expected"),
    "float_type": N_("A number is expected"),
    "less_than_equal": N_("At most %(n)s"),
    "greater_than_equal": N_("At least %(n)s"),
    "less_than": N_("Less than %(n)s"),
    "greater_than": N_("More than %(n)s"),
    "date_parsing": N_("A date is expected, as YYYY-MM-DD"),
    "date_from_datetime_parsing": N_("A date is expected, as YYYY-MM-DD"),
    "date_from_datetime_inexact": N_("A date is expected, as YYYY-MM-DD"),
    "date_type": N_("A date is expected, as YYYY-MM-DD"),
    "literal_error": N_("Choose one of the listed values"),
    "enum": N_("Choose one of the listed values"),
    "date_in_future": N_("This date is in the future"),
    "year_in_future": N_("This year is in the future"),
    # A rule's own kinds (crms.errors.RULE_KINDS), with the values the rule names.
    "date_before_1900": N_("This date is before 1900"),
    "country_code": N_("“%(value)s” is not a country code: write two letters, such as PK or AF"),
    "name_symbol": N_("A name may not contain %(char)s (a symbol, emoji or control character)"),
    "name_script_arabic": N_("Write this name in English letters: its Urdu spelling goes in “%(other)s”"),
    "name_script_latin": N_("Write this name in Urdu letters: its English spelling goes in “%(other)s”"),
    "alias_script_arabic": N_("This alias is in Urdu letters: choose “%(script)s”"),
    "alias_script_latin": N_("This alias is in English letters: choose “%(script)s”"),
    "after_other_date": N_("This date is after “%(other)s”"),
    "unit_unknown": N_("No division, district or police station has the path %(unit)s"),
    "unit_unknown_near": N_("No unit has the path %(unit)s; did you mean %(paths)s?"),
    "unit_unknown_inside": N_("No unit %(unit)s in %(parent)s; its units are %(paths)s"),
    "cnic_characters": N_("A CNIC has only digits, dashes and spaces, not %(char)s"),
    "cnic_digits": N_("A CNIC has 13 digits, not %(found)s"),
    "cnic_province": N_("A CNIC starts with a province code 1-8, not %(found)s"),
    "phone_invalid": N_("%(phone)s is not a phone number"),
    "username_taken": N_("The username %(username)s is taken"),
    "phone_taken": N_("The phone %(phone)s is registered to another user"),
    "fir_taken": N_("FIR %(fir)s of police station %(station)s is already registered (case %(case)s)"),
    "document_taken": N_("%(document)s %(number)s is already on the record of person %(person)s"),
    "document_on_person": N_("This person already has %(document)s %(number)s; nothing was added"),
    "before_fir": N_("This date is before the FIR was registered (%(registered)s)"),
    "status_out_of_order": N_(
        "This date is before %(since)s, when the status became “%(status)s”: record changes in the order "
        "they happened"
    ),
    "station_not_yet": N_("Police station %(station)s did not exist before %(since)s"),
    "station_closed": N_("Police station %(station)s closed on %(on)s"),
    "station_merged": N_("Police station %(station)s closed on %(on)s (merged into %(into)s)"),
    "already_linked": N_("This person is already linked to this case as %(role)s"),
    "already_arrested": N_(
        "The person is already arrested in this case (on %(since)s): record the bail or abscondence that "
        "ended it first"
    ),
    "cnic_not_on_record": N_("No person has CNIC %(cnic)s on record"),
    "address_on_person": N_("This person already has this address (%(entry)s); nothing was added"),
    "phone_on_person": N_("This person already has the phone number %(entry)s; nothing was added"),
    "alias_on_person": N_("This person already has the alias %(entry)s; nothing was added"),
    "columns_missing": N_("The file lacks the required column(s) %(columns)s"),
    "columns_unknown": N_("The file has column(s) that a register does not have: %(columns)s"),
    "column_twice": N_("The column %(column)s appears twice in the header"),
    "gender_unknown": N_("“%(value)s” is not a gender: use M, F or X"),
    "relation_unknown": N_("“%(value)s” is not a relation: use s/o, d/o or w/o"),
    "date_unreadable": N_(
        "“%(value)s” is not a date: write DD/MM/YYYY, the day first, or YYYY-MM-DD, or YYYY when only the"
        " year is known"
    ),
    "date_no_such_day": N_(
        "“%(value)s” is not a day of the calendar (read as day %(day)s, month %(month)s, year %(year)s)"
    ),
    "date_short_year": N_("“%(value)s”: write the year in four digits"),
    "district_unknown": N_("No district “%(value)s” is on record"),
    "district_ambiguous": N_("Several districts are called “%(value)s” (%(codes)s): write the code"),
    "station_unknown": N_("No police station “%(value)s” is on record"),
    "station_unknown_in": N_("No police station “%(value)s” is on record in district %(district)s"),
    "station_ambiguous": N_(
        "Several police stations are called “%(value)s” (%(codes)s): write the district or the code"
    ),
    "station_other_district": N_("Police station %(station)s is in district %(district)s, not %(given)s"),
    "outside_jurisdiction": N_("%(unit)s is outside your jurisdiction (%(yours)s)"),
    "row_same_cnic": N_("CNIC %(cnic)s is also in row %(row)s"),
    "row_same_person": N_("The same name, parentage, date of birth and district are also in row %(row)s"),
    "cnic_other_person": N_(
        "CNIC %(cnic)s is already recorded for person %(person)s with a different name or parentage"
    ),
    "file_type": N_("Only .csv and .xlsx files can be imported, not “%(suffix)s”"),
    "file_not_utf8": N_("Line %(line)s is not UTF-8 text: save the file as “CSV UTF-8”"),
    "file_too_large": N_("The file is larger than %(mb)s MB"),
    "row_too_many_cells": N_("Row %(row)s has %(cells)s cells but the header has %(columns)s columns"),
    "csv_malformed": N_("The CSV text is malformed near line %(line)s"),
    "column_unnamed": N_("Column %(column)s of the header has no name"),
    "sections_unreadable": N_("Cannot read “%(word)s” in the sections: write them as 302/34 PPC"),
    "sections_none": N_("No section numbers in “%(text)s”: write them as 302/34 PPC"),
    "sections_no_statute": N_("Which law are sections %(sections)s of? Write it after them, as 302 PPC"),
    "sections_unknown": N_("No section %(sections)s is on record"),
    "case_status_not_allowed": N_(
        "A case that is “%(old)s” cannot become “%(new)s”; it can become: %(allowed)s"
    ),
    "case_status_final": N_("A case that is “%(old)s” is closed: its status does not change"),
    "status_not_allowed": N_(
        "A person who is “%(old)s” in a case cannot become “%(new)s”; possible now: %(allowed)s"
    ),
    "status_final": N_("A person who is “%(old)s” in a case keeps that status"),
    "status_case_state": N_(
        "A person cannot be “%(status)s” while the case is “%(case_status)s”; only when it is: %(when)s"
    ),
    "status_accused_only": N_("Only an accused can be “%(status)s”"),
    "status_by_record": N_("“%(status)s” is set by its record: record the arrest or the conviction"),
    "arrest_accused_only": N_("Only an accused can be arrested in a case; this person is its %(role)s"),
    "conviction_accused_only": N_("Only an accused can be convicted; this person is the case's %(role)s"),
    "photo_too_large": N_("The photo is larger than %(mb)s MB"),
    "photo_too_many_pixels": N_("The photo has more than %(limit)s pixels"),
    "photo_too_small": N_("The photo is smaller than %(side)s pixels on a side"),
    "finger_printed": N_("%(position)s has a captured print: it cannot also be marked missing"),
    "duplicate_decided": N_("This case is already “%(word)s”"),
    "duplicate_unconfirmed": N_("This case is “%(word)s”: only a case an examiner confirmed is merged"),
    "candidate_decided": N_("Candidate %(person)s of this search is already decided"),
    "candidate_undecided": N_("Candidate %(person)s of this search has no decision to revise"),
    "decision_own": N_("The decision on candidate %(person)s is yours: a second examiner revises it"),
    "decision_same": N_("The decision is already “%(word)s”"),
    "image_blank": N_(
        "No fingerprint in the image: it is blank (one shade, %(shade)s of 255); capture the finger again"
    ),
    "stored_file_missing": N_(
        "The stored image is missing from the data folder: capture it again, and tell the administrator"
    ),
    "stored_file_damaged": N_(
        "The stored image is damaged or was altered (it fails its check): capture it again, and tell the "
        "administrator"
    ),
    "ppi_outside": N_("A resolution of %(ppi)s ppi is outside %(low)s–%(high)s ppi"),
    "ppi_not_number": N_("The resolution is a whole number of ppi, such as 500, not “%(value)s”"),
    "ppi_estimated_outside": N_(
        "The file gives no usable resolution and its ridge spacing says about %(ppi)s ppi, outside "
        "%(low)s–%(high)s: scan the finger at 500 ppi, or give the scanner's resolution"
    ),
    "position_twice": N_("%(position)s is chosen for another print too: each finger can be searched once"),
    "positions_count": N_("%(positions)s finger positions for %(prints)s prints: give one for each print"),
    "probes_count": N_("A search takes 1 to %(most)s fingers, not %(count)s"),
    "image_too_many_bytes": N_("The image file is larger than %(mb)s MB"),
    "image_too_many_pixels": N_(
        "The image is larger than a finger's can be (%(side)s pixels a side, %(pixels)s in all): "
        "scan the finger alone"
    ),
    "image_too_small": N_(
        "The image is only %(width)s×%(height)s pixels: each side must be at least %(side)s"
    ),
    "image_too_small_at_ppi": N_(
        "At %(ppi)s ppi the image covers too little of a finger (%(width)s×%(height)s pixels at 500 ppi)"
    ),
    "image_empty": N_("The file is empty: choose the image again"),
    "image_format_unknown": N_(
        "The file is not a supported image (PNG, JPEG, TIFF, BMP, WSQ, JPEG 2000): choose the scanner's or "
        "the camera's image file"
    ),
    "image_undecodable": N_(
        "The %(format)s file is damaged or cannot be read: scan or export the finger again"
    ),
    "document_number": N_("A %(document)s number is 3 to 40 letters or digits, not “%(found)s”"),
    "document_twice": N_("%(document)s %(number)s is given twice"),
    "reason_missing": N_("State why: a reason is required"),
    "not_clearable": N_("Once recorded, this cannot be left empty"),
    "person_merged": N_("Person %(person)s was merged into person %(into)s: use that record"),
    "person_not_found": N_("No person %(person)s is on record"),
    "case_not_found": N_("No case %(case)s is on record"),
    "link_not_found": N_("No person-in-case link %(link)s is on record"),
    "search_not_found": N_("No identification search %(search)s is on record"),
    "duplicate_not_found": N_("No duplicate case %(case)s is on record"),
    "link_arrested": N_("An arrest is recorded for this person in FIR %(fir)s: the link stays on the record"),
    "link_convicted": N_(
        "A conviction is recorded for this person in FIR %(fir)s: the link stays on the record"
    ),
    "merge_same_case": N_(
        "Both persons are linked to FIR %(fir)s as %(role)s: remove the link made in error before merging"
    ),
    "minutiae_too_few": N_(
        "Only %(count)s usable minutiae were found, at least %(needed)s are needed: capture the finger "
        "again, pressed flat and whole"
    ),
    "search_confirmed": N_(
        "Person %(first)s is already confirmed for this search (by %(by)s): a search identifies at most one "
        "person, so person %(person)s cannot be confirmed too"
    ),
}

# Values (of a rule's message, of an audit entry's details: said_value) that are a form field's name: said as
# the field's label; values that are a stored code (a status, a role): said by its term; values that are a
# word of the catalogue: translated.
LABEL_VALUES = frozenset({"other"})
TERM_VALUES = frozenset(
    {"status", "role", "old", "new", "case_status", "allowed", "when", "from", "to", "ppi_source", "script"}
)
# A code whose term is named with a prefix (where a resolution came from: ppi_estimated).
TERM_PREFIXES = {"ppi_source": "ppi_"}
FINGER_VALUES = frozenset({"position"})  # a finger position (1-10), said by the finger's name
WORD_VALUES = frozenset({"word"})  # a value that is itself a word of the catalogue ("confirmed", "open")
LIST_SEPARATOR = N_(", ")  # between the items of a value that is a list (statuses a case can take)


class PlainMessage(str):
    """An error as the pages say it: the English words (the string itself, as ``_all`` and logs show it)
    with the catalogue's msgid and values, said in the page's language by ``said(gettext)``."""

    msgid: str
    values: dict

    def __new__(cls, msgid: str, **values: Any) -> PlainMessage:
        plain = {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in values.items()}
        self = super().__new__(cls, msgid % plain if values else msgid)
        self.msgid, self.values = msgid, values
        return self

    def said(self, gettext: Callable[[str], str]) -> str:
        text = gettext(self.msgid)
        if not self.values:
            return text
        return text % {k: said_value(k, v, gettext) for k, v in self.values.items()}


def said_value(key: str, value: Any, gettext: Callable[[str], str]) -> Any:
    """A value named ``key`` (of a rule's message, of an audit entry's details) as the pages say it: a form
    field's name by its label, a word of the catalogue translated, a finger position by the finger's name, a
    stored code (or a list of them) by its term; any other as it is."""

    def term(v: Any) -> str:
        code = f"{TERM_PREFIXES.get(key, '')}{v}"
        return gettext(TERMS[code]) if code in TERMS else str(v)

    if key in LABEL_VALUES:
        return gettext(FIELD_LABELS.get(value, value))
    if key in WORD_VALUES:
        return gettext(str(value))
    if key in FINGER_VALUES and value in FINGERS:
        return gettext(FINGERS[value])
    if key in TERM_VALUES:
        return gettext(LIST_SEPARATOR).join(map(term, value)) if isinstance(value, list) else term(value)
    return value


def plain_message(item: dict) -> PlainMessage | None:
    """A detail (field, message, type, limit) in plain words where its kind is a common one, else None."""
    msgid, limit = PLAIN_MESSAGES.get(item.get("type") or ""), item.get("limit")
    if msgid is None:
        return None
    if item["type"] == "string_too_short" and limit == 1:  # an empty or blank text where one is needed
        return PlainMessage(PLAIN_MESSAGES["missing"])
    values = dict(item.get("values") or {}) | ({"n": limit} if limit is not None else {})
    named = set(re.findall(r"%\((\w+)\)s", msgid))
    if not named:
        return PlainMessage(msgid)
    return PlainMessage(msgid, **{k: values[k] for k in named}) if named <= values.keys() else None


def unprefixed(name: str, message: str) -> str:
    """A service's message without the field's name in front ("probe 1: not a supported image" at the
    field ``probe_1``), as the error macro shows it after the field's label."""
    heads = {f"{name}: ", f"{name.replace('_', ' ')}: ", f"{FIELD_LABELS.get(_row_free(name), name)}: "}
    text = str(message)
    while head := next((h for h in heads if text.startswith(h) and len(text) > len(h)), None):
        text = text[len(head) :]
    return text


def audit_details(query: str | dict | None) -> list[tuple[str, Any]] | None:
    """An audit entry's details (its query) as (key, value) pairs where they are a JSON object; None where the
    entry keeps words or a path instead (shown as they are)."""
    try:
        data = json.loads(query) if isinstance(query, str) and query.startswith("{") else query
    except ValueError:
        return None
    return [(str(k), v) for k, v in data.items()] if isinstance(data, dict) else None


YES_NO = (N_("no"), N_("yes"))


def audit_value(key: str, value: Any, gettext: Callable[[str], str]) -> str:
    """A detail's value as the audit page says it: a finger position by the finger's name, true and false as
    yes and no, a role, a status or a resolution's source by its words, a list of plain values as a list,
    anything else as compact JSON; at most 120 characters."""
    plain = (str, int, float)
    if key in FINGER_VALUES and type(value) is int or key in TERM_VALUES and isinstance(value, str):
        text = str(said_value(key, value, gettext))
    elif isinstance(value, bool):
        text = gettext(YES_NO[value])
    elif value is None:
        text = "—"
    elif isinstance(value, plain):
        text = str(value)
    elif isinstance(value, list) and all(isinstance(v, plain) and not isinstance(v, bool) for v in value):
        text = gettext(LIST_SEPARATOR).join(map(str, value))
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= 120 else text[:119] + "…"


def _detail_pattern(form: str) -> re.Pattern:
    """A form of a detail built from values (crms/web/audit_actions.DETAIL_FORMS) as a pattern naming them:
    a whole number where DETAIL_NUMBERS names the value, else any words."""

    def value(m: re.Match) -> str:
        return f"(?P<{m[1]}>{'[0-9]+' if m[1] in AUDIT_DETAIL_NUMBERS else '.+?'})"

    return re.compile(re.sub(r"\\\{(\w+)\\\}", value, re.escape(form)))


_DETAIL_PATTERNS = [(_detail_pattern(form), words) for form, words in AUDIT_DETAIL_FORMS.items()]


def audit_detail(detail: str, gettext: Callable[[str], str]) -> str | None:
    """An audit entry's detail (English words) in the page's language: the catalogue's words for it, or for
    its form with its values in place; None where the page has no words for it (shown as it is)."""
    said = gettext(detail)
    if said != detail:
        return said
    for pattern, words in _DETAIL_PATTERNS:
        if m := pattern.fullmatch(detail):
            return gettext(words) % m.groupdict()
    return None


_env.globals["audit_details"] = audit_details
_env.globals["audit_detail"] = audit_detail
_env.globals["audit_value"] = audit_value
_env.globals["unprefixed"] = unprefixed
_env.globals["static_version"] = shell_version
_env.globals["plain_message"] = plain_message
_env.globals["register_template"] = SimpleNamespace(
    required=importer.REQUIRED_COLUMNS,
    optional=importer.OPTIONAL_COLUMNS,
    examples=importer.TEMPLATE_EXAMPLES,
    # the example table's columns: the required ones and those the examples fill in
    shown=[
        c
        for c in importer.ALL_COLUMNS
        if c in importer.REQUIRED_COLUMNS or any(c in r for r in importer.TEMPLATE_EXAMPLES)
    ],
)


def form_errors(exc: CrmsError, rename: dict[str, str] | None = None) -> dict[str, str]:
    """{form field: message} for an error (all fields of a validation with details): the common kinds of
    error as :class:`PlainMessage` (said in the page's language), others in the service's words; ``_all``
    sums them up in English. A detail without a field is reported under ``_form`` (shown above the form)."""
    rename = rename or {}
    out: dict[str, str] = {}
    items = exc.details or [{"field": exc.field, "message": exc.message}]
    for item in items:
        name = item.get("field") or "_form"
        name = rename.get(name, name.split(".")[-1] if name not in FIELD_LABELS else name)
        out.setdefault(name, plain_message(item) or item.get("message") or exc.message)
    out["_all"] = "; ".join(f"{k}: {v}" for k, v in out.items())
    return out


# Edit-form fields that hold a code (shown by its term) rather than free text.
CODED_FIELDS = frozenset({"gender", "parentage_relation"})


def kept_entries(form: dict) -> dict:
    """A refused form's text entries, to show it again as the officer filled it in."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def edited(form: dict, fields: tuple[str, ...]) -> dict:
    """An edit form's fields as the services' input: those sent, an empty one as None (cleared), and the
    version the form was opened at."""
    return {k: (form.get(k, "").strip() or None) for k in (*fields, "version") if k in form}


def is_stale(exc: CrmsError) -> bool:
    """The refusal of an edit made on a copy of a record that changed since (409 naming ``version``)."""
    return isinstance(exc, Conflict) and exc.field == "version"


def as_form(record: dict, fields: tuple[str, ...]) -> dict:
    """An edit form's values for a record: each field as the form shows it, the version it was read at, and
    the same values again as ``was_FIELD`` (hidden in the form: what the officer started from)."""
    values = {key: str(record.get(key) or "") for key in fields}
    return values | {f"was_{key}": value for key, value in values.items()} | {"version": record["version"]}


def changed_form(
    request: Request, template: str, record: dict, form: dict, fields: tuple[str, ...], **ctx
) -> HTMLResponse:
    """An edit form again (409) when its record changed after the officer opened it. A field the officer
    left as it was now shows the record's value (saving again must not undo another officer's change); a
    field they changed keeps their entry. The fields changed meanwhile are listed: as the officer found
    them, as they are now and as the form holds them, marked where both changed one. The form is now at the
    record's current version, so that saving again applies the officer's changes to the record as it is."""
    now = as_form(record, fields)
    values = {**form, **{k: v for k, v in now.items() if k.startswith("was_") or k == "version"}}
    changed = []
    for key in fields:
        if key not in form:
            continue
        yours, was = form[key].strip(), form.get(f"was_{key}")
        if was is None:  # (a form sent without what it started from: its entries kept, differences listed)
            if now[key] != yours:
                changed.append((key, None, now[key], yours, key in CODED_FIELDS, True))
            continue
        was = was.strip()
        if yours == was:
            values[key] = now[key]
        if now[key] != was:
            clash = yours not in (was, now[key])
            changed.append((key, was, now[key], values[key], key in CODED_FIELDS, clash))
    stale = {
        "changed": changed,
        "at": record.get("updated_at"),
        "by": record.get("updated_by_name"),
        "now": record["version"],
        "yours": form.get("version", ""),
    }
    return render(request, template, 409, values=values, errors={}, stale=stale, **ctx)


def message_page(request: Request, status: int, title: str, text: str) -> HTMLResponse:
    return render(request, "message.html", status=status, title=title, text=text)


# Notes the services write themselves into a record's history, in the catalogue: shown translated
# (`service_text` in the templates); an officer's note is not. (A service's literal error messages are in
# the catalogue through crms.web.service_messages.)
SERVICE_TEXTS = frozenset({N_("arrest recorded")})


def refused(request: Request, exc: PermissionDenied) -> HTMLResponse:
    """The page for a refusal, saying of what: the role, the jurisdiction, or the action's own rule."""
    kind = getattr(exc, "kind", "role")
    if kind == "jurisdiction":
        text = N_("This record belongs to a unit outside your jurisdiction.")
    elif kind == "rule":
        text = exc.message  # (said by message.html in the page's language where the catalogue has it)
    else:
        text = N_("Your role may not do this.")
    return message_page(request, exc.status, N_("Not allowed"), text)


def too_many(request: Request, exc: RateLimited) -> HTMLResponse:
    """The page for a rate limit: what happened and how long to wait (``Retry-After`` too), not a refusal
    of the officer's role."""
    wait = exc.retry_after or 60
    text = translations(_lang(request)).gettext(
        N_("Too many requests in a short time. Wait %(s)s seconds, then try again.")
    )
    page = render(request, "message.html", status=429, title=N_("Too many requests"), text=text % {"s": wait})
    page.headers["Retry-After"] = str(wait)
    return page


def person_not_found(request: Request, person_id: int) -> HTMLResponse:
    """The page for a person id with no record. The service audited the miss and returned None: the page is
    answered, not raised, so that the entry commits."""
    return message_page(
        request, 404, N_("Not found"), PlainMessage(PLAIN_MESSAGES["person_not_found"], person=person_id)
    )


# ------------------------------------------------------------------------------------------ the request


def _secret(request: Request) -> bytes:
    from crms.api.deps import app_secret

    return app_secret(request)


def act(
    request: Request,
    work: Callable[[Session, Principal], Response],
    *,
    form: dict | None = None,
    on_error: Callable[[CrmsError], Response] | None = None,
) -> Response:
    """Authenticate from the session cookie, check the form's CSRF token (POST), run ``work`` in one
    transaction and answer with its page; a refusal or a failure becomes the right page (never a trace)."""
    from crms.access.sessions import (
        COOKIE,
        CSRF_FIELD,
        check_csrf_for_session,
        csrf_for_session,
        principal_from_session,
    )
    from crms.access.users import language_of
    from crms.access.work import unit_of_work
    from crms.api.deps import anonymous, client_address

    db = get_db(request)
    where = f"{request.method} {request.url.path}"
    cookie = request.cookies.get(COOKIE)
    request.state.principal = None
    if not cookie:
        return RedirectResponse(sign_in_again(request, expired=False), status_code=303)

    def authenticate(session: Session) -> Principal:
        who = principal_from_session(session, cookie, address=client_address(request))
        request.state.lang = language_of(session, who)
        return who

    def check_form(who: Principal) -> None:
        request.state.principal = who
        request.state.csrf = csrf_for_session(_secret(request), cookie)
        if request.method == "POST":
            check_csrf_for_session(_secret(request), cookie, (form or {}).get("csrf_token"))

    # The same unit of work as the API and the CLI (crms.access.work): the session is checked in a
    # transaction of its own, then the form's CSRF token, then the page's work in one transaction; refusals
    # are audited there, a unique-key clash becomes a Conflict.
    try:
        with unit_of_work(
            db, where=where, anonymous=anonymous(request), pre_authenticate=authenticate,
            after_authenticate=check_form,
        ) as work_:  # fmt: skip
            return work(work_.session, work_.principal)
    except AuthenticationError:  # the session ended: back to this page after signing in again
        return RedirectResponse(sign_in_again(request), status_code=303)
    except PermissionDenied as exc:
        if exc.field == CSRF_FIELD:
            return message_page(
                request, 403, N_("Form expired"), N_("This form expired or was not sent by this site.")
            )
        return refused(request, exc)
    except RateLimited as exc:
        return too_many(request, exc)
    except CrmsError as exc:
        return _error_page(request, exc, on_error)
    except Exception:  # a fault of ours: logged with its trace, the user gets a plain page
        _log.exception("web page %s failed", where)
        return message_page(request, 500, N_("Error"), N_("The request could not be handled."))


def _error_page(
    request: Request, exc: CrmsError, on_error: Callable[[CrmsError], Response] | None
) -> Response:
    """The page for a service's refusal: the form's own (``on_error``: the form again, the error at its field)
    or a message page. When the form cannot be shown again because its record is gone (a case page's form
    posted for a case that does not exist), the page says that."""
    if on_error is not None:
        try:
            return on_error(exc)
        except RateLimited as again:
            return too_many(request, again)
        except PermissionDenied as again:  # the page to show it on is not for this role
            return refused(request, again)
        except CrmsError as again:
            exc = again
    text = (plain_message(exc.details[0]) if len(exc.details) == 1 else None) or exc.message
    if isinstance(exc, Conflict):
        return message_page(request, 409, N_("Already recorded"), text)
    title = N_("Not found") if exc.status == 404 else N_("Error")
    return message_page(request, exc.status, title, text)


# A form entry made only of digits (Urdu and Arabic-Indic ones too, as a phone's Urdu keyboard types them)
# and the separators of a number, a date or a CNIC.
_NUMBER_LIKE = re.compile(r"[\s0-9۰-۹٠-٩./:-]*[۰-۹٠-٩][\s0-9۰-۹٠-٩./:-]*")


def western_digits(value: str) -> str:
    """A form entry made only of digits (and the separators of a number, a date or a CNIC) in Western
    digits: ``۱۷۵`` is 175, ``۲۰۲۴-۰۳-۱۴`` a date. Text with letters is left as typed."""
    return ascii_digits(value) if _NUMBER_LIKE.fullmatch(value) else value


async def read_form(request: Request) -> dict:
    data = await request.form()
    return {k: western_digits(v) if isinstance(v, str) else v for k, v in data.items()}


def _clean(form: dict, *names: str) -> dict:
    """The named text fields of a form, stripped; empty ones left out (the service's defaults apply)."""
    out = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            out[name] = value.strip()
    return out


def _row_free(name: str | None) -> str:
    """A form field's name without its row number (``mark_location_2``: ``mark_location``)."""
    return re.sub(r"_\d+$", "", name or "")


# A description form's rows of marks (``mark_kind_N``, ``mark_location_N``, ``mark_text_N``): the add form's,
# and at most this many in a correction form (the marks recorded and one more).
ADD_MARK_ROWS = 3
MAX_MARK_ROWS = 51
MARK_FIELDS = {"kind": "kind", "body_location": "location", "text": "text"}  # the services' names: the form's
DESCRIPTION_TEXT = ("observed_on", "height_cm", "build", "complexion", "eye_colour", "hair", "beard")


def description_data(form: dict) -> tuple[dict, dict[str, str]]:
    """A description form as the services' input (an empty field left out; a mark row without a place or
    text left out), and the renames of the services' error fields to the form's (``marks.0.body_location``:
    the row's ``mark_location_N``)."""
    data: dict[str, Any] = _clean(form, *DESCRIPTION_TEXT)
    data["languages"] = str(form.get("languages") or "")  # separated by commas (crms.records.schemas)
    data["marks"], rename = [], {f"languages.{i}": "languages" for i in range(20)}
    for row in range(MAX_MARK_ROWS):
        mark = _clean(form, f"mark_kind_{row}", f"mark_location_{row}", f"mark_text_{row}")
        if not (mark.get(f"mark_location_{row}") or mark.get(f"mark_text_{row}")):
            continue
        n = len(data["marks"])
        rename |= {f"marks.{n}.{key}": f"mark_{name}_{row}" for key, name in MARK_FIELDS.items()}
        data["marks"].append(
            {
                "kind": mark.get(f"mark_kind_{row}", "mark"),
                "body_location": mark.get(f"mark_location_{row}", ""),
                **({"text": mark[f"mark_text_{row}"]} if f"mark_text_{row}" in mark else {}),
            }
        )
    return data, rename


def description_values(d: dict) -> dict:
    """A recorded description as its correction form's entries."""
    values = {k: "" if d.get(k) is None else str(d[k]) for k in DESCRIPTION_TEXT}
    values["languages"] = ", ".join(d.get("languages") or [])
    for row, m in enumerate(d.get("marks") or []):
        values |= {f"mark_kind_{row}": m["kind"], f"mark_location_{row}": m["body_location"]}
        values[f"mark_text_{row}"] = m.get("text") or ""
    return values


def mark_rows(values: dict) -> int:
    """How many rows of marks a correction form shows for ``values``: those filled in and one more."""
    rows = [int(k.rsplit("_", 1)[1]) for k in values if re.fullmatch(r"mark_(kind|location|text)_\d+", k)]
    return min(max(rows, default=-1) + 2, MAX_MARK_ROWS)


def _office_day(text: str, field: str, *, end: bool = False) -> datetime | None:
    """A day of a filter form (YYYY-MM-DD, the office's day) as the UTC time it starts, or with ``end`` its
    last moment; ValidationError naming the field otherwise."""
    from datetime import date

    from crms.timeutil import office_day_span

    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{field} must be a date (YYYY-MM-DD), not {text!r}", field=field) from None
    return office_day_span(day)[1 if end else 0]


def page_links(filters: dict, start: int, shown: int, total: int, size: int) -> dict:
    """A listing's place (entries ``first``–``last``) and the query strings of its newer and older pages,
    which keep its filters (None where there is no such page). An offset past the end (``past_end``: no
    entry shown, though the filter finds some) has no place; its newer page is the last one."""
    query = {k: v for k, v in filters.items() if v}
    past_end = shown == 0 and 0 < total <= start
    newer = ((total - 1) // size) * size if past_end else max(start - size, 0)
    return {
        "first": start + 1,
        "last": start + shown,
        "past_end": past_end,
        "newer": urlencode({**query, "offset": newer}) if start and total else None,
        "older": urlencode({**query, "offset": start + size}) if start + shown < total else None,
    }


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ------------------------------------------------------------------------------------------ pages


def install(app: FastAPI) -> None:  # noqa: C901 - one place lists every page
    from crms.access.policy import Permission

    def form_page(permission: Permission, template: str, **ctx: Any):
        """An empty form, shown only to a user whose role may send it (the service checks again)."""

        def work(session: Session, who: Principal) -> Response:
            from crms.access.policy import authorize

            authorize(who, permission)
            return render(ctx.pop("request"), template, **ctx)

        return work

    __import__("crms.web.identify").web.identify.register(app)  # identification, duplicate queue pages

    # ---------------------------------------------------------------- static, PWA, language

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        path = STATIC / name
        if "/" in name or not path.is_file():
            return Response(status_code=404)
        resp = FileResponse(path)
        resp.headers["Cache-Control"] = "public, max-age=86400"
        return resp

    @app.get("/sw.js", include_in_schema=False)
    def service_worker():
        resp = Response(service_worker_source(), media_type="text/javascript")
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    @app.get("/manifest.webmanifest", include_in_schema=False)
    def manifest():
        return FileResponse(STATIC / "manifest.webmanifest", media_type="application/manifest+json")

    @app.get("/offline", response_class=HTMLResponse, include_in_schema=False)
    def offline(request: Request):
        resp = render(request, "offline.html")
        resp.headers["Cache-Control"] = "public, max-age=86400"
        return resp

    @app.get("/lang/{code}", include_in_schema=False)
    def set_language(request: Request, code: str, next: str = "/"):
        """The one-tap switch: the browser's cookie, and for a signed-in user the account's setting
        (``access.users.set_language``; the session cookie is SameSite=Strict, so another site's link does
        not reach the account)."""
        from crms.access.sessions import COOKIE

        target = next if next.startswith("/") and not next.startswith("//") else "/"
        if request.cookies.get(COOKIE):

            def work(session: Session, who: Principal) -> Response:
                from crms.access.users import set_language as save_language

                save_language(session, who, choose(code))
                return see_other(target)

            resp = act(request, work)
            if resp.status_code != 303 or resp.headers.get("location", "").startswith("/login"):
                resp = see_other(target)  # signed out meanwhile: the browser's choice only
        else:
            resp = see_other(target)
        resp.set_cookie(LANG_COOKIE, choose(code), max_age=3600 * 24 * 365, samesite="strict", path="/")
        return resp

    # ---------------------------------------------------------------- sign in / out

    def login_form(request: Request, errors: dict | None = None, status: int = 200, **ctx) -> HTMLResponse:
        from crms.access.sessions import CSRF_COOKIE, cookie_options, new_login_csrf

        nonce, token = new_login_csrf(_secret(request))
        request.state.csrf = token
        resp = render(request, "login.html", status=status, errors=errors or {}, **ctx)
        resp.set_cookie(CSRF_COOKIE, nonce, **cookie_options(3600))
        return resp

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, expired: int = 0, changed: int = 0, unsent: int = 0, next: str = "/"):
        return login_form(
            request, expired=bool(expired), changed=bool(changed), unsent=bool(unsent), next=local_path(next)
        )

    @app.post("/login", include_in_schema=False)
    async def login_post(request: Request):
        form = await read_form(request)
        return await run_in_threadpool(_login, request, form)

    def _login(request: Request, form: dict) -> Response:
        from crms.access import audit
        from crms.access.sessions import (
            COOKIE,
            CSRF_COOKIE,
            IDLE_TIMEOUT,
            check_login_csrf,
            cookie_options,
            start_session,
        )
        from crms.access.users import language_of
        from crms.api.deps import anonymous, client_address

        db = get_db(request)
        username = str(form.get("username", ""))[:64]
        next_url = local_path(str(form.get("next") or "/"))
        try:
            check_login_csrf(_secret(request), request.cookies.get(CSRF_COOKIE), form.get("csrf_token"))
        except PermissionDenied as exc:
            who = anonymous(request)
            audit.record_refusal(db, who, "auth.login", exc.message, query="POST /login", target_type="user")
            return login_form(request, {"_form": N_("This form expired or was not sent by this site.")}, 403)
        try:
            principal, token = start_session(
                db,
                username,
                str(form.get("password", ""))[:256],
                totp=(str(form.get("totp", "")).strip()[:10] or None),
                address=client_address(request),
            )
        except PasswordChangeRequired:  # the password was right and works once: straight to changing it
            return see_other("/password?" + urlencode({"username": username, "required": 1}))
        except CrmsError as exc:
            return login_form(request, form_errors(exc), exc.status, username=username, next=next_url)
        with db.transaction() as session:
            language = language_of(session, principal)
        resp = see_other(next_url)
        resp.set_cookie(COOKIE, token, **cookie_options(int(IDLE_TIMEOUT.total_seconds()) * 24))
        if language:  # the account's language follows the user to this browser
            resp.set_cookie(LANG_COOKIE, language, max_age=3600 * 24 * 365, samesite="strict", path="/")
        resp.delete_cookie(CSRF_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout_post(request: Request):
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.access.sessions import COOKIE
            from crms.access.tokens import logout

            logout(session, who, web_session=request.cookies[COOKIE])
            resp = see_other("/login")
            resp.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
            return resp

        return await run_in_threadpool(act, request, work, form=form)

    # ---------------------------------------------------------------- dashboard

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(request: Request):
        def work(session: Session, who: Principal) -> Response:
            from crms.records import services as svc
            from crms.records import services_cases as cases
            from crms.records.services.cases import may_list_cases
            from crms.records.services.guard import may_browse
            from crms.records.services.wanted import list_wanted

            ctx: dict[str, Any] = {"cases": None, "persons": None, "wanted": None}
            if may_list_cases(who):
                ctx["cases"] = cases.list_cases(session, who, limit=10)
            if may_browse(who):  # browsing the register: its roles, a reason
                ctx["persons"] = svc.list_persons(
                    session, who, limit=10, unit=who.unit, reason="dashboard: newest persons of my unit"
                )
                ctx["wanted"] = list_wanted(
                    session, who, limit=20, reason="dashboard: wanted persons of my unit"
                )
            return render(request, "dashboard.html", **ctx)

        return act(request, work)

    # ---------------------------------------------------------------- CNIC lookup

    @app.get("/lookup", response_class=HTMLResponse, include_in_schema=False)
    def lookup(request: Request, cnic: str = "", reason: str = ""):
        cnic, reason = cnic.strip()[:40], reason.strip()[:500]

        def work(session: Session, who: Principal) -> Response:
            from crms.records import services as svc

            if not cnic:
                return render(
                    request, "lookup.html", cnic="", reason=reason, found=None, asked=False, errors={}
                )
            found = svc.lookup_cnic(session, who, cnic, reason=reason or None)
            return render(
                request, "lookup.html", cnic=cnic, reason=reason, found=found, asked=True, errors={}
            )

        def bad(exc: CrmsError) -> Response:
            return render(
                request,
                "lookup.html",
                422,
                cnic=cnic,
                reason=reason,
                found=None,
                asked=False,
                errors=form_errors(exc),
            )

        return act(request, work, on_error=bad)

    # ---------------------------------------------------------------- persons

    PERSON_FIELDS = (
        "given_name_en",
        "family_name_en",
        "given_name_ur",
        "family_name_ur",
        "parentage_relation",
        "parentage_name_en",
        "parentage_name_ur",
        "date_of_birth",
        "birth_year",
        "gender",
        "caste",
        "nationality",
        "notes",
    )
    PERSON_RENAME = {
        "documents.0.number": "cnic",
        "phones.0": "phone",
        "documents": "cnic",
        "phones": "phone",
    }

    def person_data(form: dict) -> dict:
        data: dict[str, Any] = _clean(form, *PERSON_FIELDS)
        if form.get("cnic", "").strip():
            data["documents"] = [{"doc_type": "CNIC", "number": form["cnic"].strip()}]
        if form.get("phone", "").strip():
            data["phones"] = [form["phone"].strip()]
        return data

    @app.get("/persons/new", response_class=HTMLResponse, include_in_schema=False)
    def person_new(request: Request):
        return act(
            request,
            form_page(Permission.PERSON_WRITE, "person_form.html", request=request, values={}, person=None),
        )

    @app.post("/persons/new", include_in_schema=False)
    async def person_create(request: Request):
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.records import services as svc

            result = svc.register_person(session, who, person_data(form))
            return see_other(f"/persons/{result.person.id}")

        def bad(exc: CrmsError) -> Response:
            return render(
                request,
                "person_form.html",
                422,
                values=form,
                errors=form_errors(exc, PERSON_RENAME),
                person=None,
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    @app.get("/persons/{person_id}", response_class=HTMLResponse, include_in_schema=False)
    def person_page(request: Request, person_id: IdPath):
        return act(request, lambda s, w: person_view(request, s, w, person_id))

    @app.get("/persons/{person_id}/edit", response_class=HTMLResponse, include_in_schema=False)
    def person_edit(request: Request, person_id: IdPath):
        def work(session: Session, who: Principal) -> Response:
            from crms.records import services as svc

            record = svc.get_person(session, who, person_id)
            if record is None:
                return person_not_found(request, person_id)
            values = as_form(record, PERSON_FIELDS)  # a save on this copy is refused once the record changes
            return render(request, "person_form.html", values=values, errors={}, person=record)

        return act(request, work)

    @app.post("/persons/{person_id}/edit", include_in_schema=False)
    async def person_update(request: Request, person_id: IdPath):
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.records import services as svc

            data = edited(form, PERSON_FIELDS)
            if data.get("gender") is None:
                data.pop("gender", None)
            svc.update_person(session, who, person_id, data)
            return see_other(f"/persons/{person_id}")

        def bad(exc: CrmsError) -> Response:
            if is_stale(exc):
                return _reshow(request, lambda s, w: person_changed(request, s, w, person_id, form))
            return render(
                request,
                "person_form.html",
                422,
                values=form,
                errors=form_errors(exc),
                person={"id": person_id},
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    def person_changed(
        request: Request, session: Session, who: Principal, person_id: int, form: dict
    ) -> Response:
        from crms.records import services as svc

        record = svc.get_person(session, who, person_id)
        if record is None:
            return person_not_found(request, person_id)
        return changed_form(request, "person_form.html", record, form, PERSON_FIELDS, person=record)

    def person_view(request: Request, session: Session, who: Principal, person_id: int, status=200, **ctx):
        from crms.biometrics import enrolment, thumbnails
        from crms.records import services as svc

        record = svc.get_person(session, who, person_id)
        if record is None:
            return person_not_found(request, person_id)
        prints = None
        if enrolment.may_list_prints(who):
            prints = enrolment.fingerprints_of(session, who, record["id"])
        from crms.faces import photos as faces

        pictures = faces.photos_of(session, who, record["id"])
        from crms.access.policy import Permission, has_permission

        if has_permission(who, Permission.SEARCH_BIOMETRIC):  # the searches that identified this person
            from crms.biometrics.examination import identifications_of

            ctx["identifications"] = identifications_of(session, who, record["id"], audited=False)
        ctx.setdefault("values", {})
        corrections = {}  # each description's correction form: as recorded, or the officer's entries again
        for d in record["descriptions"]:
            values = ctx["values"] if ctx.get("part") == f"description-{d['id']}" else description_values(d)
            corrections[d["id"]] = {"values": values, "rows": mark_rows(values)}
        ctx["corrections"], ctx["add_mark_rows"] = corrections, ADD_MARK_ROWS
        ctx["coded_fields"] = CODED_FIELDS
        return render(
            request, "person.html", status, p=record, prints=prints, photos=pictures,
            show_photos=faces.may_view_images(who), show_thumbs=thumbnails.may_view_thumbnails(who), **ctx,
        )  # fmt: skip

    @app.post("/persons/{person_id}/photos", include_in_schema=False)
    @body_limit(PHOTO_MAX_BYTES + MULTIPART_OVERHEAD)
    async def person_photo_post(request: Request, person_id: IdPath):
        from crms.faces import photos as faces

        data = await request.form()
        form = {k: v for k, v in data.items() if isinstance(v, str)}
        upload = data.get("photo")
        content = b""
        if upload is not None and not isinstance(upload, str):
            content = await upload.read(faces.MAX_BYTES + 1)

        def work(session: Session, who: Principal) -> Response:
            store = biometric_store(request)
            faces.upload_photo(session, who, store, person_id, str(form.get("kind", "")), content,
                               note=str(form.get("note", "")))  # fmt: skip
            return see_other(f"/persons/{person_id}#photos")

        def bad(exc: CrmsError) -> Response:
            errors = form_errors(exc, {"image": "photo"})
            values = kept_entries(form)  # the file itself is not sent back
            return _reshow(
                request,
                lambda s, w: person_view(
                    request, s, w, person_id, 422, errors=errors, part="photo", values=values
                ),
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    @app.get("/photos/{photo_id}/image", include_in_schema=False)
    def photo_image(request: Request, photo_id: IdPath):
        def work(session: Session, who: Principal) -> Response:
            from crms.faces.photos import read_photo

            data, media, _ = read_photo(
                session, who, biometric_store(request), photo_id, reason="person page"
            )
            return _secure_headers(Response(data, media_type=media))

        return act(request, work)

    def part_data(part: str, form: dict) -> dict:
        if part == "document":
            return _clean(form, "doc_type", "number", "issuing_country")
        if part == "alias":
            return _clean(form, "script", "name")
        if part == "address":
            return _clean(form, "kind", "district", "police_station", "text")
        return {}

    async def person_form(
        request: Request,
        person_id: int,
        part: str,
        do: Callable[[Session, Principal, dict], None],
        rename: Callable[[dict], dict[str, str]] = lambda form: {},
        anchor: str = "",
    ) -> Response:
        """One of the person page's forms (``part`` names it on the page): ``do`` with the form, then back to
        the page at ``anchor``; refused, the page again with the error in that form only and the entries
        kept (the failed transaction rolled back)."""
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            do(session, who, form)
            return see_other(f"/persons/{person_id}#{anchor or part}")

        def bad(exc: CrmsError) -> Response:
            errors = form_errors(exc, rename(form))
            values = kept_entries(form)
            return _reshow(
                request,
                lambda s, w: person_view(
                    request, s, w, person_id, exc.status, errors=errors, part=part, values=values
                ),
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    @app.post("/persons/{person_id}/add/{part}", include_in_schema=False)
    async def person_add_part(request: Request, person_id: IdPath, part: str):
        from crms.records import services as svc

        def do(session: Session, who: Principal, form: dict) -> None:
            from crms.errors import NotFound

            if part == "document":
                svc.add_document(session, who, person_id, part_data(part, form))
            elif part == "alias":
                svc.add_alias(session, who, person_id, part_data(part, form))
            elif part == "address":
                svc.add_address(session, who, person_id, part_data(part, form))
            elif part == "phone":
                svc.add_phone(session, who, person_id, str(form.get("phone", "")).strip()[:40])
            elif part == "description":
                svc.add_description(session, who, person_id, description_data(form)[0])
            else:
                raise NotFound(f"no part {part!r}", field="part")

        marks = part == "description"  # its rows of marks: the services' error fields renamed
        return await person_form(
            request, person_id, part, do, lambda f: description_data(f)[1] if marks else {}
        )

    @app.post("/persons/{person_id}/descriptions/{description_id}", include_in_schema=False)
    async def person_description_correct(request: Request, person_id: IdPath, description_id: IdPath):
        from crms.records import services as svc

        def do(session: Session, who: Principal, form: dict) -> None:
            data = description_data(form)[0] | _clean(form, "version")
            svc.update_description(session, who, person_id, description_id, data)

        part = f"description-{description_id}"
        return await person_form(request, person_id, part, do, lambda form: description_data(form)[1])

    @app.post("/persons/{person_id}/remove/{kind}/{entry_id}", include_in_schema=False)
    async def person_remove_entry(request: Request, person_id: IdPath, kind: str, entry_id: IdPath):
        from crms.records import services as svc

        def do(session: Session, who: Principal, form: dict) -> None:
            if kind != "photo":
                svc.remove_entry(session, who, person_id, kind, entry_id, {"reason": form.get("reason")})
                return
            from crms.errors import NotFound
            from crms.faces import photos as faces

            removed, _ = faces.remove_photo(session, who, entry_id, form.get("reason"))
            if removed.person_id != person_id:  # after the service's checks; the change rolls back
                raise NotFound(f"photo {entry_id} is not a photo of person {person_id}", field="photo_id")

        anchor = {"document": "documents", "photo": "photos"}.get(kind, "entries")
        return await person_form(request, person_id, f"{kind}-{entry_id}-remove", do, anchor=anchor)

    @app.get("/persons/{person_id}/print", response_class=HTMLResponse, include_in_schema=False)
    def person_print(request: Request, person_id: IdPath):
        def work(session: Session, who: Principal) -> Response:
            from crms.records import services as svc
            from crms.timeutil import utcnow

            record = svc.print_person(session, who, person_id)
            if record is None:
                return person_not_found(request, person_id)
            from crms.faces import photos as faces

            photo = None  # the current front view (else the first photo), where the role may see images
            if faces.may_view_images(who):
                photo = next(iter(faces.photos_of(session, who, record["id"])), None)
            return render(request, "print.html", p=record, printed_at=utcnow(), photo=photo)

        return act(request, work)

    # ---------------------------------------------------------------- merge

    @app.get("/merge", response_class=HTMLResponse, include_in_schema=False)
    def merge_page(request: Request, survivor_id: str = "", merged_id: str = ""):
        values = {"survivor_id": survivor_id, "merged_id": merged_id}
        return act(request, form_page(Permission.PERSON_MERGE, "merge.html", request=request, values=values))

    @app.post("/merge", include_in_schema=False)
    async def merge_post(request: Request):
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.records import services as svc

            data = _clean(form, "survivor_id", "merged_id", "reason")
            survivor = svc.merge_persons(session, who, data)
            return see_other(f"/persons/{survivor.id}")

        def bad(exc: CrmsError) -> Response:
            return render(request, "merge.html", exc.status, values=form, errors=form_errors(exc))

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    # ---------------------------------------------------------------- cases

    CASE_FIELDS = (
        "police_station",
        "district",
        "fir_number",
        "registered_on",
        "occurred_on",
        "place",
        "sections",
    )

    CASES_PAGE = 50

    @app.get("/cases", response_class=HTMLResponse, include_in_schema=False)
    def cases_page(
        request: Request,
        district: str = "",
        police_station: str = "",
        year: str = "",
        status: str = "",
        offset: str = "0",
    ):
        """The FIRs, latest entered first, 50 a page, by district, police station, year and status."""
        values = {"district": district, "police_station": police_station, "year": year, "status": status}
        values = {k: v.strip()[:150] for k, v in values.items()}

        def work(session: Session, who: Principal) -> Response:
            from crms.records import services_cases as cases
            from crms.records.vocab import CaseStatus

            page, errors, start = {"items": [], "total": 0}, {}, 0
            try:
                start = whole_number(offset, "offset")
                page = cases.list_cases(
                    session,
                    who,
                    limit=CASES_PAGE,
                    offset=start,
                    district=values["district"] or None,
                    police_station=values["police_station"] or None,
                    year=whole_number(values["year"], "year") if values["year"] else None,
                    status=values["status"] or None,
                )
            except ValidationError as exc:
                errors = form_errors(exc)
            return render(
                request,
                "cases.html",
                422 if errors else 200,
                page=page,
                pages=page_links(values, start, len(page["items"]), page["total"], CASES_PAGE),
                values=values,
                errors=errors,
                statuses=[s.value for s in CaseStatus],
            )

        return act(request, work)

    @app.get("/cases/new", response_class=HTMLResponse, include_in_schema=False)
    def case_new(request: Request):
        return act(request, form_page(Permission.CASE_WRITE, "case_form.html", request=request, values={}))

    @app.post("/cases/new", include_in_schema=False)
    async def case_create(request: Request):
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.records import services_cases as cases

            data: dict[str, Any] = _clean(form, *CASE_FIELDS)
            registered = data.get("registered_on", "")
            data["year"] = registered[:4] if len(registered) >= 4 else ""
            case = cases.add_case(session, who, data)
            return see_other(f"/cases/{case.id}")

        def bad(exc: CrmsError) -> Response:  # the year is taken from Registered on: its error is shown there
            errors = form_errors(exc, {"year": "registered_on"})
            return render(request, "case_form.html", 422, values=form, errors=errors)

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    def case_view(
        request: Request, session: Session, who: Principal, case_id: int, errors=None, status=200, scope="",
        values=None,
    ) -> HTMLResponse:  # fmt: skip
        """The case page; after a refused form, ``errors`` and the officer's ``values`` go to the one form
        named by ``scope`` ("case", "link", or "link-N-status|arrest|conviction|edit" for person N's)."""
        from crms.records import services_cases as cases

        c = cases.get_case(session, who, case_id)
        values = values or {}
        return render(request, "case.html", status, c=c, errors=errors or {}, scope=scope, values=values)

    @app.get("/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    def case_page(request: Request, case_id: IdPath):
        return act(request, lambda s, w: case_view(request, s, w, case_id))

    CASE_EDIT_FIELDS = ("occurred_on", "place", "sections", "notes")

    def case_edit_form(
        request: Request, session: Session, who: Principal, case_id: int, status=200, values=None, errors=None
    ) -> Response:
        """The case's edit form: as the case is (and its version), or the officer's entries with errors."""
        from crms.records import services_cases as cases

        c = cases.get_case(session, who, case_id)
        if values is None:
            values = as_form(c, CASE_EDIT_FIELDS)
        return render(request, "case_form.html", status, case=c, values=values, errors=errors or {})

    @app.get("/cases/{case_id}/edit", response_class=HTMLResponse, include_in_schema=False)
    def case_edit(request: Request, case_id: IdPath):
        def work(session: Session, who: Principal) -> Response:
            from crms.access.policy import authorize

            authorize(who, Permission.CASE_WRITE)  # the form only for a role that may send it (as form_page)
            return case_edit_form(request, session, who, case_id)

        return act(request, work)

    @app.post("/cases/{case_id}/edit", include_in_schema=False)
    async def case_update(request: Request, case_id: IdPath):
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.records import services_cases as cases

            cases.update_case(session, who, case_id, edited(form, CASE_EDIT_FIELDS))
            return see_other(f"/cases/{case_id}")

        def bad(exc: CrmsError) -> Response:
            from crms.records import services_cases as cases

            if is_stale(exc):

                def again(s: Session, w: Principal) -> Response:
                    c = cases.get_case(s, w, case_id)
                    return changed_form(request, "case_form.html", c, form, CASE_EDIT_FIELDS, case=c)

                return _reshow(request, again)
            errors = form_errors(exc)
            return _reshow(
                request,
                lambda s, w: case_edit_form(request, s, w, case_id, status=422, values=form, errors=errors),
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    def case_action(
        request: Request,
        case_id: int,
        form: dict,
        do: Callable[[Session, Principal], None],
        scope: str,
    ):
        def work(session: Session, who: Principal) -> Response:
            do(session, who)
            # back to that person (a link removed: to the persons in the case)
            person = scope.rsplit("-", 1)[0] if scope.startswith("link-") else ""
            person = "persons" if scope.endswith("-remove") else person
            return see_other(f"/cases/{case_id}#{person}" if person else f"/cases/{case_id}")

        def bad(exc: CrmsError) -> Response:
            # The failed transaction is rolled back; show the case as it is, the error next to the field of
            # the form that was sent, with the officer's entries.
            def again(session: Session, who: Principal) -> Response:
                values = kept_entries(form)
                errors = form_errors(exc, {"cnic": "person_id"})  # (the link form's one field takes either)
                return case_view(request, session, who, case_id, errors, exc.status, scope, values)

            return act(request, again) if request.method == "GET" else _reshow(request, again)

        return act(request, work, form=form, on_error=bad)

    def _reshow(request: Request, again: Callable[[Session, Principal], Response]) -> Response:
        with get_db(request).transaction() as session:
            return again(session, request.state.principal)

    async def case_form(
        request: Request, case_id: int, link_id: int | None, service: str, *fields: str, edit: bool = False
    ):
        """A case page's form: its FIELDS to the cases service SERVICE, for the case or for the person in it
        with LINK_ID (a link of another case: not found). ``edit``: an empty field clears the value (as an
        edit form's), rather than leaving the service's default."""
        form = await read_form(request)
        scope = "link" if service == "link_person" else "case"
        if link_id is not None:
            scope = f"link-{link_id}-{LINK_FORMS[service]}"

        def do(session: Session, who: Principal) -> None:
            from crms.records import services_cases as cases

            data = edited(form, fields) if edit else _clean(form, *fields)
            if service == "link_person" and is_cnic_like(data.get("person_id", "")):
                data["cnic"] = data.pop("person_id")
            done = getattr(cases, service)(session, who, case_id if link_id is None else link_id, data)
            link = getattr(done, "party", done)  # the link, or the arrest or conviction recorded for it
            if link_id is not None and link.case_id != case_id:  # checked after the service's checks (a
                # role without the permission learns nothing); the change rolls back
                raise NotFound(f"person-in-case link {link_id} is not in case {case_id}", field="link_id")

        return await run_in_threadpool(case_action, request, case_id, form, do, scope)

    # the forms of a person in a case, by service: their names on the page ("link-N-status", ...)
    LINK_FORMS = {
        "change_party_status": "status",
        "record_arrest": "arrest",
        "record_conviction": "conviction",
        "update_link": "edit",
        "remove_link": "remove",
    }

    @app.post("/cases/{case_id}/status", include_in_schema=False)
    async def case_status(request: Request, case_id: IdPath):
        return await case_form(request, case_id, None, "change_case_status", "status", "effective_on", "note")

    @app.post("/cases/{case_id}/link", include_in_schema=False)
    async def case_link(request: Request, case_id: IdPath):
        return await case_form(
            request,
            case_id,
            None,
            "link_person",
            "person_id",
            "role",
            "effective_on",
            "modus_operandi",
            "gang",
        )

    @app.post("/cases/{case_id}/links/{link_id}/status", include_in_schema=False)
    async def link_status(request: Request, case_id: IdPath, link_id: IdPath):
        return await case_form(
            request, case_id, link_id, "change_party_status", "status", "effective_on", "note"
        )

    @app.post("/cases/{case_id}/links/{link_id}/arrest", include_in_schema=False)
    async def link_arrest(request: Request, case_id: IdPath, link_id: IdPath):
        return await case_form(
            request, case_id, link_id, "record_arrest", "arrested_on", "place", "arrested_by"
        )

    @app.post("/cases/{case_id}/links/{link_id}/conviction", include_in_schema=False)
    async def link_conviction(request: Request, case_id: IdPath, link_id: IdPath):
        return await case_form(
            request, case_id, link_id, "record_conviction", "court", "convicted_on", "sentence"
        )

    @app.post("/cases/{case_id}/links/{link_id}/remove", include_in_schema=False)
    async def link_remove(request: Request, case_id: IdPath, link_id: IdPath):
        return await case_form(request, case_id, link_id, "remove_link", "reason")

    @app.post("/cases/{case_id}/links/{link_id}/edit", include_in_schema=False)
    async def link_edit(request: Request, case_id: IdPath, link_id: IdPath):
        return await case_form(request, case_id, link_id, "update_link", "modus_operandi", "gang", edit=True)

    # ---------------------------------------------------------------- tenprint enrolment

    def enrol_view(request: Request, session: Session, who: Principal, person_id: int, status=200, **ctx):
        from crms.biometrics import enrolment
        from crms.fingerprint import DEFAULT_ENROL_THRESHOLD
        from crms.records import services as svc

        svc.get_writable_person(session, who, person_id, Permission.BIOMETRIC_ENROL)
        prints = enrolment.fingerprints_of(session, who, person_id)
        by_finger = {f["position"]: f for f in prints["fingerprints"]}
        ctx.setdefault("errors", {})
        ctx.setdefault("saved", [])
        ctx.setdefault("checked", {})
        ctx.setdefault("marked", [])
        ctx.setdefault("ppi", "")
        return render(
            request,
            "enrol.html",
            status,
            person_id=person_id,
            prints=prints,
            by_finger=by_finger,
            state_of={f["position"]: f for f in prints["fingers"]},
            reasons=REASONS,
            threshold=DEFAULT_ENROL_THRESHOLD,
            **ctx,
        )

    @app.get("/persons/{person_id}/fingerprints", response_class=HTMLResponse, include_in_schema=False)
    def enrol_page(request: Request, person_id: IdPath):
        return act(request, lambda s, w: enrol_view(request, s, w, person_id))

    @app.post("/persons/{person_id}/fingerprints", include_in_schema=False)
    async def enrol_post(request: Request, person_id: IdPath):
        from crms.fingerprint import MAX_IMAGE_BYTES as MAX_BYTES

        data = await request.form()
        form = {"csrf_token": data.get("csrf_token")}
        marked = {
            p: (str(data.get(f"state_{p}")), str(data.get(f"note_{p}") or ""))
            for p in FINGERS
            if data.get(f"state_{p}") not in (None, "", "capture")
        }
        images: dict[int, bytes] = {}
        too_big: list[int] = []
        for position in FINGERS:
            upload = data.get(f"finger_{position}")
            if upload is None or isinstance(upload, str) or not upload.filename:
                continue
            content = await upload.read(MAX_BYTES + 1)
            if len(content) > MAX_BYTES:
                too_big.append(position)
            elif content:
                images[position] = content

        def decode_all() -> tuple[dict, dict]:
            """Each image decoded (in the decoder sandbox), its resolution chosen and its quality measured
            before the transaction opens: no database lock is held while a decoder works. Errors are kept
            for the form, by finger."""
            from crms.biometrics.capture_check import check_capture
            from crms.errors import ValidationError

            ready, failed = {}, {}
            for position, content in images.items():
                try:
                    ready[position] = check_capture(content, position, ppi=ppi)
                except ValidationError as exc:
                    failed[position] = exc
            return ready, failed

        from crms.biometrics.capture_check import given_ppi
        from crms.errors import ValidationError

        ppi_text = str(data.get("ppi") or "").strip()[:20]
        try:
            ppi, ppi_error = given_ppi(ppi_text), None
        except ValidationError as exc:
            ppi, ppi_error = None, exc
        ready, failed = await run_in_threadpool(decode_all) if images and not ppi_error else ({}, {})

        def work(session: Session, who: Principal) -> Response:
            from crms.biometrics import enrolment

            if ppi_error is not None:
                raise ppi_error
            if too_big:
                raise ValidationError("image too large", field=f"finger_{too_big[0]}")
            if not images and not marked:
                raise ValidationError("choose at least one fingerprint image", field="image")
            if failed:
                first = min(failed)
                raise failed[first].at(f"finger_{first}")
            from crms.biometrics.marks import record_missing_finger

            store = biometric_store(request)
            checked = {}
            for position, (image, quality) in ready.items():
                try:
                    enrolment.capture(session, who, store, person_id, position, image, ppi=ppi)
                except ValidationError as exc:
                    raise exc.at(f"finger_{position}") from None
                checked[position] = quality
            for position, (reason, note) in marked.items():
                try:
                    record_missing_finger(session, who, person_id, position, reason, note)
                except (ValidationError, Conflict) as exc:
                    raise exc.at(f"finger_{position}") from None
            session.flush()
            return enrol_view(request, session, who, person_id, saved=sorted(checked), checked=checked,
                              marked=sorted(marked), ppi=ppi_text)  # fmt: skip

        def bad(exc: CrmsError) -> Response:
            return _reshow(
                request,
                lambda s, w: enrol_view(request, s, w, person_id, 422, errors=form_errors(exc), ppi=ppi_text),
            )

        response = await run_in_threadpool(act, request, work, form=form, on_error=bad)
        if ready and response.status_code < 400:  # the server's enrol worker (crms serve) extracts them
            from crms.biometrics.worker import wake

            wake(request.app.state.settings.data_dir)
        return response

    @app.get("/fingerprints/{fingerprint_id}/thumb", include_in_schema=False)
    def fingerprint_thumb(request: Request, fingerprint_id: IdPath):
        def work(session: Session, who: Principal) -> Response:
            from crms.biometrics.thumbnails import fingerprint_thumbnail

            png = fingerprint_thumbnail(session, who, biometric_store(request), fingerprint_id)
            return _secure_headers(Response(png, media_type="image/png"))

        return act(request, work)

    # ---------------------------------------------------------------- bulk import

    @app.get("/import", response_class=HTMLResponse, include_in_schema=False)
    def import_page(request: Request):
        def work(session: Session, who: Principal) -> Response:
            from crms.access.policy import authorize

            authorize(who, Permission.IMPORT)
            return render(request, "import.html", report=None, errors={})

        return act(request, work)

    @app.get("/import/template.csv", include_in_schema=False)
    def import_template(request: Request):
        def work(session: Session, who: Principal) -> Response:
            from crms.access.policy import authorize

            authorize(who, Permission.IMPORT)
            attachment = {"Content-Disposition": 'attachment; filename="register-template.csv"'}
            return Response(importer.template_csv(), media_type="text/csv; charset=utf-8", headers=attachment)

        return act(request, work)

    @app.post("/import", include_in_schema=False)
    async def import_post(request: Request):
        data = await request.form()
        form = {"csrf_token": data.get("csrf_token"), "mode": data.get("mode")}
        upload = data.get("file")
        name, content = "", b""
        if upload is not None and not isinstance(upload, str) and upload.filename:
            name = Path(upload.filename).name
            content = await upload.read(IMPORT_FILE_LIMIT + 1)

        def work(session: Session, who: Principal) -> Response:
            from crms.errors import ValidationError, rule_error

            if not content or not name:
                raise ValidationError("choose a CSV or XLSX register file", field="file")
            if len(content) > IMPORT_FILE_LIMIT:
                mb = IMPORT_FILE_LIMIT // (1024 * 1024)
                raise rule_error("file", "file_too_large", f"file larger than {mb} MB", mb=mb)
            dry = form.get("mode") != "import"
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / name
                path.write_bytes(content)
                report = importer.import_persons(session, who, path, dry_run=dry)
            return render(request, "import.html", report=report.as_dict(), errors={})

        def bad(exc: CrmsError) -> Response:  # a refusal of the whole file is said at the file's field
            errors = form_errors(exc, rename={exc.field: "file"} if exc.field else None)
            if "file" not in errors:
                errors["file"] = errors.get("_form") or exc.message
            return render(request, "import.html", exc.status, report=None, errors=errors)

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    # ---------------------------------------------------------------- audit

    AUDIT_PAGE = 50

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(
        request: Request,
        username: str = "",
        action: str = "",
        target_type: str = "",
        target_id: str = "",
        outcome: str = "",
        since: str = "",
        until: str = "",
        offset: str = "0",
        verify: int = 0,
    ):
        """The trail, newest first, 50 entries a page, filtered by user, action (a prefix), record, outcome
        and the office's days from and to."""
        values = {
            "username": username, "action": action, "target_type": target_type, "target_id": target_id,
            "outcome": outcome, "since": since, "until": until,
        }  # fmt: skip
        values = {k: v.strip()[:64] for k, v in values.items()}

        def work(session: Session, who: Principal) -> Response:
            from crms.access import audit

            report = None
            if verify:  # the access service authorises, checks and audits
                report = audit.verify_trail(session, who)
            total, rows, errors, start = 0, [], {}, 0
            if not verify or audit.may_query(who):  # without audit:read, query refuses (403)
                try:
                    start = whole_number(offset, "offset")
                    total, rows = audit.query(
                        session,
                        who,
                        username=values["username"] or None,
                        action=values["action"] or None,
                        target_type=values["target_type"] or None,
                        target_id=values["target_id"] or None,
                        outcome=values["outcome"] or None,
                        since=_office_day(values["since"], "since"),
                        until=_office_day(values["until"], "until", end=True),
                        limit=AUDIT_PAGE,
                        offset=start,
                    )
                except ValidationError as exc:
                    errors = form_errors(exc)
            return render(
                request,
                "audit.html",
                422 if errors else 200,
                entries=[audit.as_dict(e) for e in rows],
                total=total,
                pages=page_links(values, start, len(rows), total, AUDIT_PAGE),
                report=report,
                values=values,
                errors=errors,
                outcomes=audit.OUTCOMES,
                actions=sorted(AUDIT_ACTIONS),
                record_types=list(AUDIT_RECORD_TYPES),
                details=AUDIT_DETAILS,
            )

        return act(request, work)

    # ---------------------------------------------------------------- users

    def users_view(request: Request, session: Session, who: Principal, status=200, **ctx) -> Response:
        from crms.access import users
        from crms.access.policy import Role
        from crms.access.units import units_within

        rows = [users.user_dict(u) for u in users.list_users(session, who)]
        roles = [r.value for r in Role if r != Role.SYSTEM]
        ctx.setdefault("errors", {})
        ctx.setdefault("values", {})
        units = units_within(session, who.unit)  # the new account's unit is chosen among these
        return render(request, "users.html", status, users=rows, roles=roles, units=units, **ctx)

    @app.get("/users", response_class=HTMLResponse, include_in_schema=False)
    def users_page(request: Request):
        return act(request, lambda s, w: users_view(request, s, w))

    @app.post("/users", include_in_schema=False)
    async def users_post(request: Request):
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.access import users

            data = _clean(form, "username", "role", "unit", "full_name", "phone", "pin")
            username, role = data.pop("username", ""), data.pop("role", "")
            user = users.add_user(session, who, username, role, **data)
            code = getattr(user, "enrolment_code", None)
            return users_view(request, session, who, created=users.user_dict(user), code=code)

        def bad(exc: CrmsError) -> Response:
            return _reshow(
                request, lambda s, w: users_view(request, s, w, 422, errors=form_errors(exc), values=form)
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    @app.post("/users/{user_id}/active", include_in_schema=False)
    async def users_active(request: Request, user_id: IdPath):
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.access import users

            users.set_active(session, who, user_id, form.get("active") == "1")
            return see_other("/users")

        def bad(exc: CrmsError) -> Response:  # (the users page again, the refusal said above its form)
            return _reshow(
                request, lambda s, w: users_view(request, s, w, exc.status, errors=form_errors(exc))
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    @app.post("/users/{user_id}/approve", include_in_schema=False)
    async def users_approve(request: Request, user_id: IdPath):
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.access import users

            users.approve(session, who, user_id)
            return see_other("/users")

        def bad(exc: CrmsError) -> Response:
            return _reshow(
                request, lambda s, w: users_view(request, s, w, exc.status, errors=form_errors(exc))
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    @app.post("/users/{user_id}/reset", include_in_schema=False)
    async def users_reset(request: Request, user_id: IdPath):
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.access import users

            user = users.reset_account(session, who, user_id)
            code = getattr(user, "enrolment_code", None)
            return users_view(request, session, who, created=users.user_dict(user), code=code, reset=True)

        def bad(exc: CrmsError) -> Response:
            return _reshow(
                request, lambda s, w: users_view(request, s, w, exc.status, errors=form_errors(exc))
            )

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    def sms_view(request: Request, session: Session, who: Principal, user_id: int, status=200, **ctx):
        from crms.access import users

        account = users.user_dict(users.get_user(session, who, user_id))
        ctx.setdefault("errors", {})
        ctx.setdefault("values", {"phone": account["phone"] or ""})
        return render(request, "user_sms.html", status, account=account, **ctx)

    @app.get("/users/{user_id}/sms", response_class=HTMLResponse, include_in_schema=False)
    def users_sms_page(request: Request, user_id: IdPath):
        return act(request, lambda s, w: sms_view(request, s, w, user_id))

    @app.post("/users/{user_id}/sms", include_in_schema=False)
    async def users_sms(request: Request, user_id: IdPath):
        """An SMS officer's new phone and/or PIN (users.reset_sms_login); the PIN is never shown."""
        form = await read_form(request)

        def work(session: Session, who: Principal) -> Response:
            from crms.access import users

            data = _clean(form, "phone", "pin")
            user = users.reset_sms_login(session, who, user_id, **data)
            return users_view(request, session, who, sms_set=users.user_dict(user))

        def bad(exc: CrmsError) -> Response:
            values = {"phone": str(form.get("phone", ""))[:32]}  # (the PIN is never shown back)
            ctx = {"errors": form_errors(exc), "values": values}
            return _reshow(request, lambda s, w: sms_view(request, s, w, user_id, exc.status, **ctx))

        return await run_in_threadpool(act, request, work, form=form, on_error=bad)

    # ---------------------------------------------------------------- activation and password change
    # Public forms (no session yet): the same signed double-submit CSRF token as the sign-in form.

    def public_form(request: Request, template: str, status: int = 200, **ctx) -> HTMLResponse:
        from crms.access.sessions import CSRF_COOKIE, cookie_options, new_login_csrf

        nonce, token = new_login_csrf(_secret(request))
        request.state.csrf = token
        resp = render(request, template, status=status, **ctx)
        resp.set_cookie(CSRF_COOKIE, nonce, **cookie_options(3600))
        return resp

    def typed_twice(request: Request, form: dict, template: str) -> Response | None:
        """The form again (422, the error at the repeat field, nothing sent to the service) when the new
        password and its repetition differ: a typo in a hidden field would set a password nobody knows and
        spend the one-time password or enrolment code. The API and the CLI take it once."""
        if str(form.get("new_password", ""))[:256] == str(form.get("new_password_again", ""))[:256]:
            return None
        said = PlainMessage(N_("The two new passwords differ: type the same new password in both fields."))
        errors = {"new_password_again": said, "_all": f"new_password_again: {said}"}
        values = {"username": str(form.get("username", ""))[:64]}
        return public_form(request, template, 422, errors=errors, values=values)

    def public_post(request: Request, form: dict, template: str, work: Callable[[], Response]) -> Response:
        """A public form that sets a new password (activation, password change): its CSRF token, then the new
        password typed twice alike, then ``work`` (the service), its refusal shown at the field."""
        from crms.access import audit
        from crms.access.sessions import CSRF_COOKIE, check_login_csrf
        from crms.api.deps import anonymous

        values = {"username": str(form.get("username", ""))[:64]}
        try:
            check_login_csrf(_secret(request), request.cookies.get(CSRF_COOKIE), form.get("csrf_token"))
        except PermissionDenied as exc:
            audit.record_refusal(get_db(request), anonymous(request), "access.refused", exc.message,
                                 query=f"POST {request.url.path}")  # fmt: skip
            errors = {"_form": N_("This form expired or was not sent by this site.")}
            return public_form(request, template, 403, errors=errors, values=values)
        if (again := typed_twice(request, form, template)) is not None:
            return again
        try:
            return work()
        except CrmsError as exc:
            errors = form_errors(exc)
            if isinstance(exc, ValidationError) and exc.field == "password":  # the rules: the new one
                errors = {"new_password": exc.message, "_all": exc.message}
            return public_form(request, template, exc.status, errors=errors, values=values)

    @app.get("/activate", response_class=HTMLResponse, include_in_schema=False)
    def activate_page(request: Request, username: str = ""):
        return public_form(request, "activate.html", values={"username": username[:64]}, done=None)

    @app.post("/activate", include_in_schema=False)
    async def activate_post(request: Request):
        form = await read_form(request)

        def work() -> Response:
            from crms.access.users import activate
            from crms.api.deps import client_address

            out = activate(
                get_db(request),
                str(form.get("username", ""))[:64],
                str(form.get("enrolment_code", ""))[:64],
                str(form.get("new_password", ""))[:256],
                address=client_address(request),
                channel="web",
            )
            qr = None
            if out.get("totp_uri"):
                import segno

                svg = segno.make(out["totp_uri"], error="m").svg_inline(scale=4, dark="#000", light="#fff")
                qr = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
            return public_form(request, "activate.html", values={}, done=out, qr=qr)

        return await run_in_threadpool(public_post, request, form, "activate.html", work)

    @app.get("/password", response_class=HTMLResponse, include_in_schema=False)
    def password_page(request: Request, username: str = "", required: str = ""):
        values = {"username": username[:64]}
        return public_form(request, "password.html", values=values, required=bool(required))

    @app.post("/password", include_in_schema=False)
    async def password_post(request: Request):
        form = await read_form(request)

        def work() -> Response:
            from crms.access.sessions import COOKIE
            from crms.access.users import change_password
            from crms.api.deps import client_address

            change_password(
                get_db(request),
                str(form.get("username", ""))[:64],
                str(form.get("password", ""))[:256],
                str(form.get("new_password", ""))[:256],
                totp=(str(form.get("totp", "")).strip()[:10] or None),
                address=client_address(request),
                channel="web",
            )
            resp = see_other("/login?changed=1")  # every session of the account was ended: sign in again
            resp.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
            return resp

        return await run_in_threadpool(public_post, request, form, "password.html", work)

    # ---------------------------------------------------------------- errors that reach the top

    from starlette.exceptions import HTTPException as StarletteHTTPException

    from crms.api.problems import error_headers, wrong_method

    previous = app.exception_handlers.get(StarletteHTTPException)

    async def html_http_error(request: Request, exc: StarletteHTTPException):
        if request.url.path.startswith("/api") and previous is not None:
            return await previous(request, exc)
        if exc.status_code == 404:
            return message_page(request, 404, N_("Not found"), N_("There is no such page."))
        page = message_page(request, exc.status_code, N_("Error"), N_("The request could not be handled."))
        page.headers.update(error_headers(request, exc))
        return page

    app.add_exception_handler(StarletteHTTPException, html_http_error)

    from fastapi.exceptions import RequestValidationError

    previous_validation = app.exception_handlers.get(RequestValidationError)

    async def html_validation_error(request: Request, exc: RequestValidationError):
        if (wrong := wrong_method(request, exc)) is not None:
            return await html_http_error(request, wrong)
        if request.url.path.startswith("/api") and previous_validation is not None:
            return await previous_validation(request, exc)
        return message_page(request, 422, N_("Error"), N_("The address or a value in it is not valid."))

    app.add_exception_handler(RequestValidationError, html_validation_error)
