"""The fingerprint endpoints of a person: capture one finger (image as the body) and list what is enrolled,
with permissions, validation, the upload size limit, merge redirects and audit, on SQLite and PostgreSQL."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import select


@lru_cache(maxsize=4)
def finger(index: int, position: int = 1) -> bytes:
    from crms.demo.builder import finger_png

    return finger_png(91, index, position)


def person(client, headers, cnic: str) -> int:
    r = client.post(
        "/api/v1/persons",
        json={"given_name_en": "Juma", "parentage_relation": "s/o", "parentage_name_en": "Khan",
              "gender": "M",
              "unit": "BA/QTA/QUETTA", "documents": [{"doc_type": "CNIC", "number": cnic}]},
        headers=headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()["person"]["id"]


def test_capture_then_list_by_finger(client, make_user, db):
    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-1111111-3")
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/2", content=finger(1, 2), headers=op)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["position"], body["finger"], body["status"], body["active"]) == (
        2,
        "right_index",
        "pending",
        True,
    )
    assert body["image"]["format"] == "png" and body["image"]["ppi"] == 500
    assert (body["image"]["ppi_source"], body["capture_quality"]["ppi_source"]) == ("file", "file")
    quality = body["capture_quality"]
    assert quality["ok"] and quality["problems"] == [] and quality["score"] >= quality["threshold"], quality
    assert "template" not in body and "image_ref" not in body  # never the image or template themselves
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/2", content=finger(2, 2), headers=op)  # recapture
    assert r.status_code == 201
    listed = client.get(f"/api/v1/persons/{pid}/fingerprints?reason=check", headers=op).json()
    assert [f["position"] for f in listed["fingerprints"]] == [2]
    assert listed["pending"] == 1 and listed["enrolled"] == 0 and 2 not in listed["missing"]
    assert len(listed["missing"]) == 9
    full = client.get(f"/api/v1/persons/{pid}/fingerprints?history=true", headers=op).json()
    assert [(f["position"], f["active"]) for f in full["fingerprints"]] == [(2, True), (2, False)]

    from crms.access.models import AuditEntry

    with db.transaction() as s:
        acts = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert acts.count("biometric.capture") == 2 and acts.count("biometric.read") == 2


def test_bad_input_and_permissions(client, make_user):
    _, op = make_user("cro_operator")
    _, auditor = make_user("auditor")
    pid = person(client, op, "54400-2222222-3")
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/11", content=finger(1), headers=op)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "position"
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/1", content=b"", headers=op)
    assert r.status_code == 422 and r.json()["field"] == "image"
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/1", content=b"GIF89a not a print", headers=op)
    assert r.status_code == 422 and "image" in r.json()["detail"].lower()
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/1", content=finger(1), headers=auditor)
    assert r.status_code == 403
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/1", content=finger(1))
    assert r.status_code == 401
    r = client.post("/api/v1/persons/999999/fingerprints/1", content=finger(1), headers=op)
    assert r.status_code == 404
    assert client.get("/api/v1/persons/999999/fingerprints", headers=op).status_code == 404
    listed = client.get(f"/api/v1/persons/{pid}/fingerprints", headers=op).json()
    assert listed["fingerprints"] == [] and listed["missing"] == list(range(1, 11))


def test_upload_over_the_limit_is_refused_before_it_is_read(client, make_user, monkeypatch):
    from crms.api.routes import biometrics

    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-3333333-3")
    monkeypatch.setattr(biometrics, "MAX_BYTES", 1000)
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/1", content=b"\0" * 1001, headers=op)
    assert r.status_code == 413 and r.json()["field"] == "image"

    def chunks():
        for _ in range(5):
            yield b"\0" * 300  # no Content-Length: refused while streaming

    r = client.post(f"/api/v1/persons/{pid}/fingerprints/1", content=chunks(), headers=op)
    assert r.status_code == 413


def test_merged_person_answers_with_the_survivors_prints(client, make_user):
    _, op = make_user("cro_operator")
    _, sup = make_user("supervisor")
    a, b = person(client, op, "54400-4444444-3"), person(client, op, "54400-5555555-3")
    assert (
        client.post(f"/api/v1/persons/{b}/fingerprints/3", content=finger(3, 3), headers=op).status_code
        == 201
    )
    r = client.post(
        "/api/v1/persons/merge", json={"survivor_id": a, "merged_id": b, "reason": "same"}, headers=sup
    )
    assert r.status_code == 200, r.text
    listed = client.get(f"/api/v1/persons/{b}/fingerprints", headers=op).json()
    assert listed["person_id"] == a and listed["redirected_from"] == b
    assert [f["position"] for f in listed["fingerprints"]] == [3]


def test_multipart_upload_is_accepted_and_both_bodies_are_declared(client, make_user):
    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-4444444-3")
    files = {"image": ("right-thumb.png", finger(3, 1), "image/png")}
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/1", files=files, headers=op)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending" and r.json()["image"]["format"] == "png"
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/2", files={"photo": ("x.png", finger(3, 2))},
                    headers=op)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "image" and "'image'" in r.text
    body = client.get("/api/openapi.json").json()["paths"][
        "/api/v1/persons/{person_id}/fingerprints/{position}"
    ]
    content = body["post"]["requestBody"]["content"]
    assert body["post"]["requestBody"]["required"] is True
    assert content["application/octet-stream"]["schema"]["format"] == "binary"
    assert content["multipart/form-data"]["schema"]["required"] == ["image"]


def test_a_wsq_that_crashes_the_decoder_is_a_422_naming_the_file(client, make_user):
    from pathlib import Path

    crash = (Path(__file__).parent / "data" / "wsq-segfault.wsq").read_bytes()
    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-5555555-3")
    # NBIS reads past its buffers here: mostly a segfault, sometimes garbage pixels, by memory layout (ASLR).
    # So each kind of upload is sent until one decode has faulted: that one must be a 422 naming the file.
    # A worker that read garbage is kept for the next file and reads this one the same way again, so after
    # such a try the decoder workers are replaced by fresh ones (a new memory layout).
    from crms.fingerprint import sandbox

    def until_refused(send, name: str) -> None:
        for _ in range(30):
            r = send()
            if r.status_code == 422:
                assert r.json()["field"] == "image" and r.json()["detail"].startswith(f"{name}: "), r.text
                return
            assert r.status_code == 201, r.text  # the decoder got through this time: an ordinary capture
            sandbox.close_all()
        raise AssertionError(f"no upload of the regression file as {name!r} faulted in 30 tries")

    until_refused(
        lambda: client.post(
            f"/api/v1/persons/{pid}/fingerprints/1",
            files={"image": ("bad.wsq", crash)},
            params={"ppi": 500},
            headers=op,
        ),  # fmt: skip
        "bad.wsq",
    )
    until_refused(
        lambda: client.post(
            f"/api/v1/persons/{pid}/fingerprints/1", content=crash, params={"ppi": 500}, headers=op
        ),  # fmt: skip
        "finger 1",
    )
    # The server is still here, and still captures.
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/1", content=finger(4, 1), headers=op)
    assert r.status_code == 201


def test_an_image_bomb_is_a_422_and_nothing_is_written(client, make_user):
    from .test_decoder_sandbox import _png_stream

    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-6666666-3")
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/1", content=_png_stream(6300, 6300, 16), headers=op)
    assert r.status_code == 422 and r.json()["field"] == "image"
    listed = client.get(f"/api/v1/persons/{pid}/fingerprints?reason=check", headers=op).json()
    assert listed["fingerprints"] == []


def test_capture_ppi_outside_the_engines_range_is_refused(client, make_user):
    from crms.fingerprint import MAX_DPI, MIN_DPI

    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-2222223-3")
    for bad in (MIN_DPI - 1, MAX_DPI + 1):
        r = client.post(f"/api/v1/persons/{pid}/fingerprints/1?ppi={bad}", content=finger(1), headers=op)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "ppi", r.text


def test_capture_answers_the_prints_quality_and_resolution_at_once(client, make_user):
    """A washed-out print is stored (pending) but the answer says at once that it falls short and why, as
    data; a file without a resolution is read at the estimate, and the answer says so; a print whose
    ridges say about 170 ppi is refused, naming the figure, unless the caller gives the resolution."""
    import io

    from PIL import Image, ImageFilter

    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-6666666-3")
    faint = Image.open(io.BytesIO(finger(4, 5))).filter(ImageFilter.GaussianBlur(4))
    buf = io.BytesIO()
    Image.eval(faint, lambda v: 200 + v // 10).save(buf, format="PNG", dpi=(500, 500))
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/5", content=buf.getvalue(), headers=op)
    assert r.status_code == 201, r.text
    quality = r.json()["capture_quality"]
    assert not quality["ok"] and quality["score"] < quality["threshold"], quality
    assert "unclear_ridges" in [p["code"] for p in quality["problems"]], quality
    assert quality["reason"].startswith(f"quality {quality['score']} is below the enrolment threshold")
    untagged = io.BytesIO()
    Image.open(io.BytesIO(finger(5, 6))).save(untagged, format="PNG")
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/6", content=untagged.getvalue(), headers=op)
    assert r.status_code == 201, r.text
    image, quality = r.json()["image"], r.json()["capture_quality"]
    assert image["ppi_source"] == quality["ppi_source"] == "estimated" and 400 <= image["ppi"] <= 620
    assert image["ppi_reason"] == quality["ppi_reason"] and "estimated" in image["ppi_reason"]
    small = io.BytesIO()
    im = Image.open(io.BytesIO(finger(6, 7)))
    im.resize((im.width // 3, im.height // 3), Image.Resampling.LANCZOS).save(small, format="PNG")
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/7", content=small.getvalue(), headers=op)
    assert r.status_code == 422, r.text
    error = r.json()["errors"][0]
    assert (error["field"], error["type"]) == ("ppi", "ppi_estimated_outside"), error
    r = client.post(f"/api/v1/persons/{pid}/fingerprints/7?ppi=500", content=small.getvalue(), headers=op)
    assert r.status_code == 201 and r.json()["image"]["ppi_source"] == "caller", r.text


def test_a_blank_image_is_refused_with_a_422_naming_the_image(client, make_user):
    """An all-white, all-black or fully transparent image holds no fingerprint: refused at capture (the
    rule is the service's, crms.biometrics.enrolment.check_image), nothing is stored."""
    import io

    from PIL import Image

    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-3333333-3")
    for mode, colour in (("L", 255), ("L", 0), ("RGBA", (0, 0, 0, 0))):
        buf = io.BytesIO()
        Image.new(mode, (388, 374), colour).save(buf, format="PNG")
        r = client.post(f"/api/v1/persons/{pid}/fingerprints/3?ppi=500", content=buf.getvalue(), headers=op)
        assert r.status_code == 422, (mode, colour, r.text)
        assert r.json()["field"] == "image" and "no fingerprint" in r.json()["detail"], r.text
        r = client.post(f"/api/v1/persons/{pid}/fingerprints/3?ppi=500", headers=op,
                        files={"image": ("blank.png", buf.getvalue(), "image/png")})  # fmt: skip
        assert r.status_code == 422 and r.json()["detail"].startswith("blank.png: "), r.text
    listed = client.get(f"/api/v1/persons/{pid}/fingerprints", headers=op).json()
    assert listed["fingerprints"] == [] and 3 in listed["missing"]


def test_the_enrol_page_shows_a_recapture_waiting_beside_the_enrolled_print(app, db):
    """An operator recaptures a finger already enrolled: the page keeps the enrolled print and says that a
    new capture waits to replace it."""
    from crms.access.crypto import EncryptedStore
    from crms.access.models import User
    from crms.access.users import principal_for
    from crms.biometrics import enrolment
    from tests.records._support import signed_in

    with signed_in(app, db, "cro_operator") as (c, api):
        pid = person(c, api, "54400-2222224-7")
        assert (
            c.post(f"/api/v1/persons/{pid}/fingerprints/1", content=finger(0), headers=api).status_code == 201
        )
        store = EncryptedStore.from_settings(app.state.settings)
        with db.transaction() as s:  # the enrol worker's part, run here
            operator = s.scalars(select(User).where(User.role == "cro_operator")).one()
            who = principal_for(operator, channel="web")
        enrolment.enrol_pending(db, store, principal=who, jobs=1)
        page = c.get(f"/persons/{pid}/fingerprints").text
        assert 'data-status="recapture"' not in page
        assert (
            c.post(f"/api/v1/persons/{pid}/fingerprints/1", content=finger(1), headers=api).status_code == 201
        )
        page = c.get(f"/persons/{pid}/fingerprints").text
        assert 'data-status="enrolled"' in page and 'data-status="recapture"' in page
