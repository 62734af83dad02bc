"""The auditors' page of the trail, on SQLite and PostgreSQL: filters by user, action, record type and
number, outcome and the office's days; 50 entries a page with links to older and newer ones; times on the
office's clock; each entry's channel, address, reason and detail; a bad filter is named next to its field."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from crms.access import audit
from crms.access.models import AuditEntry
from crms.access.users import create_user, principal_for
from crms.timeutil import local, today
from tests.records._support import signed_in

ROW = re.compile(r"<tr( class=\"bad\")?><td>(\d+)</td>")


def _seqs(html: str) -> list[int]:
    return [int(seq) for _, seq in ROW.findall(html)]


def _entries(db, n: int, **kw) -> None:
    with db.transaction() as s:
        clerk = principal_for(
            create_user(s, "clerk_audit", "cro_operator"), channel="web", address="10.1.2.3"
        )
        for i in range(n):
            audit.record(s, clerk, "person.read", target_type="person", target_id=100 + i, **kw)


def test_the_trail_pages_through_every_entry_newest_first(app, db):
    _entries(db, 70, reason="FIR 12/2026 Sariab")
    with signed_in(app, db, "auditor") as (c, _):
        first = c.get("/audit", params={"username": "clerk_audit"})
        assert first.status_code == 200, first.text[:300]
        seqs = _seqs(first.text)
        assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
        assert "Entries 1–50 of 70, newest first" in first.text and "Newer entries" not in first.text
        older = re.search(r'href="/audit\?([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
        assert "username=clerk_audit" in older and "offset=50" in older
        second = c.get(f"/audit?{older}")
        rest = _seqs(second.text)
        assert len(rest) == 20 and max(rest) < min(seqs) and "Entries 51–70 of 70" in second.text
        assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
        assert (
            'Reason: <span dir="auto">FIR 12/2026 Sariab</span>' in second.text and "10.1.2.3" in second.text
        )


def test_filters_by_outcome_record_type_and_the_offices_days(app, db):
    _entries(db, 3)
    with db.transaction() as s:
        refused = principal_for(create_user(s, "nosy_clerk", "cro_operator"), channel="api")
        audit.record(s, refused, "access.refused", outcome="refused", detail="role may not audit:read")
    with signed_in(app, db, "auditor") as (c, _):
        r = c.get("/audit", params={"outcome": "refused"})
        rows = re.findall(r"<tr( class=\"bad\")?><td>\d+</td><td>[^<]*</td><td>([^<]*)</td>", r.text)
        assert rows and all(bad for bad, _ in rows) and ("", "clerk_audit") not in rows
        assert ' class="bad"' in r.text and "role may not audit:read" in r.text
        r = c.get("/audit", params={"target_type": "person", "username": "clerk_audit"})
        assert len(_seqs(r.text)) == 3
        day = today()
        assert len(_seqs(c.get("/audit", params={"username": "clerk_audit", "since": day}).text)) == 3
        wide = {
            "username": "clerk_audit",
            "since": "0001-01-01",
            "until": "9999-12-31",
        }  # the calendar's ends
        assert len(_seqs(c.get("/audit", params=wide).text)) == 3
        r = c.get("/audit", params={"username": "clerk_audit", "until": day - timedelta(days=1)})
        assert _seqs(r.text) == [] and "No entries." in r.text
        # the times are the office's (Pakistan Time by default), and the column says so
        assert "When (Pakistan Time)" in r.text
        with db.transaction() as s:
            at = s.scalar(select(AuditEntry.at).where(AuditEntry.username == "clerk_audit").order_by(
                AuditEntry.seq.desc()).limit(1))  # fmt: skip
        shown = c.get("/audit", params={"username": "clerk_audit"}).text
        assert f"{local(at):%d-%b-%Y, %-I:%M:%S}" in shown


def test_a_bad_filter_is_named_next_to_its_field(app, db):
    with signed_in(app, db, "auditor") as (c, _):
        for params, field in (
            ({"since": "12/06/2026"}, "since"),
            ({"outcome": "maybe"}, "outcome"),
            ({"since": "2026-12-06", "until": "2026-12-01"}, "since"),
            ({"offset": "-5"}, "offset"),
        ):
            r = c.get("/audit", params=params)
            assert r.status_code == 422 and "Traceback" not in r.text, (params, r.text[:300])
            assert f'id="e-{field}"' in r.text if field != "offset" else "offset must be" in r.text, params
    with signed_in(app, db, "cro_operator") as (c, _):
        assert c.get("/audit").status_code == 403


def test_an_offset_past_the_end_says_so_and_leads_to_the_last_page(app, db):
    _entries(db, 70)
    with signed_in(app, db, "auditor") as (c, _):
        for offset in ("99999999", "70", "100"):
            r = c.get("/audit", params={"username": "clerk_audit", "offset": offset})
            assert r.status_code == 200, r.text[:300]
            assert _seqs(r.text) == [] and "No entries this far into the list (70 in all)." in r.text
            assert not re.search(r"Entries [\d,]+–", r.text), r.text  # never an inverted range
            newer = re.search(r'href="/audit\?([^"]+)" rel="prev"', r.text).group(1).replace("&amp;", "&")
            assert "username=clerk_audit" in newer and "offset=50" in newer and 'rel="next"' not in r.text
            last = c.get(f"/audit?{newer}")
            assert len(_seqs(last.text)) == 20 and "Entries 51–70 of 70" in last.text
        r = c.get("/audit", params={"username": "nobody_at_all", "offset": "50"})
        assert "No entries." in r.text and 'rel="prev"' not in r.text  # nothing to lead to
