"""The photo endpoints on SQLite and PostgreSQL: upload, list, image (permitted roles only), bad input."""

from __future__ import annotations

from tests.biometrics.test_api_fingerprints import person
from tests.faces.test_photos import image


def test_photo_api(client, make_user):
    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-1111113-7")
    r = client.post(f"/api/v1/persons/{pid}/photos?kind=front", content=image(), headers=op)
    assert r.status_code == 201, r.text
    photo = r.json()
    assert (photo["kind"], photo["format"], photo["width"]) == ("front", "jpeg", 120)
    listed = client.get(f"/api/v1/persons/{pid}/photos", headers=op).json()
    assert [p["id"] for p in listed] == [photo["id"]]
    got = client.get(f"/api/v1/photos/{photo['id']}/image", headers=op)
    assert got.status_code == 200 and got.content == image() and got.headers["content-type"] == "image/jpeg"
    _, admin = make_user("auditor")
    assert client.get(f"/api/v1/photos/{photo['id']}/image", headers=admin).status_code == 403
    bad = client.post(f"/api/v1/persons/{pid}/photos?kind=front", content=b"nope", headers=op)
    assert bad.status_code == 422 and "image" in bad.text
    bad = client.post(f"/api/v1/persons/{pid}/photos?kind=side", content=image(), headers=op)
    assert bad.status_code == 422 and "kind" in bad.text
    assert len(client.get(f"/api/v1/persons/{pid}/photos", headers=op).json()) == 1


def test_oversized_photo_names_the_photo_limit(client, make_user):
    """A photo over the photo limit (but within the route's body limit) is refused with that limit."""
    from crms.faces.photos import MAX_BYTES

    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-1111114-7")
    r = client.post(f"/api/v1/persons/{pid}/photos?kind=front", content=b"\0" * (MAX_BYTES + 1), headers=op)
    assert r.status_code == 413 and f"image larger than {MAX_BYTES} bytes" in r.text, r.text


def test_a_photo_taken_in_error_is_taken_off_through_the_api(client, make_user):
    _, op = make_user("cro_operator")
    _, examiner = make_user("fingerprint_examiner")
    pid = person(client, op, "54400-1111115-7")
    right = client.post(f"/api/v1/persons/{pid}/photos?kind=front", content=image(), headers=op).json()
    other = image(colour=(10, 10, 10))
    wrong = client.post(f"/api/v1/persons/{pid}/photos?kind=front", content=other, headers=op).json()
    url = f"/api/v1/photos/{wrong['id']}/remove"
    r = client.post(url, json={}, headers=op)
    assert r.status_code == 422 and r.json()["field"] == "reason", r.text
    assert client.post(url, json={"reason": "not him"}, headers=examiner).status_code == 403
    r = client.post(url, json={"reason": "another man's photo"}, headers=op)
    assert r.status_code == 200, r.text
    assert not r.json()["photo"]["active"] and r.json()["current_again"]["id"] == right["id"]
    assert [p["id"] for p in client.get(f"/api/v1/persons/{pid}/photos", headers=op).json()] == [right["id"]]
    assert client.post(url, json={"reason": "again"}, headers=op).status_code == 409


def test_the_printed_record_carries_the_front_photograph(app, db):
    """A printed register entry or check-post copy carries the mugshot, for a role that may see images."""
    from tests.records._support import person_data, signed_in

    with signed_in(app, db, "cro_operator") as (c, api):
        pid = c.post("/api/v1/persons", json=person_data(), headers=api).json()["person"]["id"]
        assert "mugshot" not in c.get(f"/persons/{pid}/print").text  # none taken yet
        side = c.post(f"/api/v1/persons/{pid}/photos?kind=left", content=image(), headers=api).json()
        front = c.post(f"/api/v1/persons/{pid}/photos?kind=front", content=image(), headers=api).json()
        page = c.get(f"/persons/{pid}/print").text
        assert f'<img src="/photos/{front["id"]}/image"' in page and f"/photos/{side['id']}/" not in page
        assert c.get(f"/photos/{front['id']}/image").headers["content-type"] == "image/jpeg"
    with signed_in(app, db, "auditor") as (c, _):  # (an auditor may not read records at all)
        assert c.get(f"/persons/{pid}/print").status_code == 403


def test_a_photo_may_be_sent_as_a_multipart_file_and_a_huge_one_is_named_too_large(client, make_user):
    import io

    from PIL import Image

    _, op = make_user("cro_operator")
    pid = person(client, op, "54400-1111115-7")
    files = {"image": ("front.jpg", image(), "image/jpeg")}
    r = client.post(f"/api/v1/persons/{pid}/photos?kind=front", files=files, headers=op)
    assert r.status_code == 201 and r.json()["format"] == "jpeg", r.text
    r = client.post(f"/api/v1/persons/{pid}/photos", files={"file": ("a.jpg", image())}, headers=op)
    assert r.status_code == 422 and "file field 'image'" in r.json()["detail"], r.text
    huge = io.BytesIO()
    Image.new("1", (60000, 60000)).save(huge, "PNG")  # a few hundred KB that would decode to 3.6 G pixels
    r = client.post(f"/api/v1/persons/{pid}/photos", content=huge.getvalue(), headers=op)
    assert r.status_code == 422 and "larger than 30,000,000 pixels" in r.json()["detail"], r.text
