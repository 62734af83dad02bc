"""Person photos on SQLite and PostgreSQL: upload (Pillow validation with a pixel bound, encrypted store),
the one current view per kind, listing, reading only by permitted roles, audit."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from crms.access.crypto import EncryptedStore
from crms.errors import PermissionDenied, ValidationError
from crms.faces import photos
from crms.faces.models import PersonPhoto
from tests.biometrics.test_enrolment import actions, make_person, make_principal


@pytest.fixture
def env(db, tmp_path):
    from crms.access.audit import bind_data_dir
    from crms.access.crypto import EncryptedStore

    bind_data_dir(db, tmp_path / "data")
    return db, EncryptedStore(tmp_path / "data", key=b"k" * 32)


def image(fmt: str = "JPEG", size=(120, 160), colour=(90, 90, 90)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt)
    return buf.getvalue()


def upload(db, store, who, pid, kind, data, note=None):
    with db.transaction() as s:
        return photos.upload_photo(s, who, store, pid, kind, data, note=note)


def test_upload_list_and_read(env):
    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    first = upload(db, store, op, pid, "front", image())
    assert first.image_format == "jpeg" and (first.image_width, first.image_height) == (120, 160)
    raw = (store.root / first.image_ref.split("/")[0]).rglob("*")
    assert all(image() not in p.read_bytes() for p in raw if p.is_file())  # encrypted at rest
    again = upload(db, store, op, pid, "front", image())
    assert again.id == first.id
    second = upload(db, store, op, pid, "front", image("PNG", colour=(10, 10, 10)))
    upload(db, store, op, pid, "mark", image(colour=(1, 2, 3)), note="tattoo, left forearm")
    upload(db, store, op, pid, "mark", image(colour=(3, 2, 1)))
    with db.transaction() as s:
        listed = photos.photos_of(s, op, pid)
        history = photos.photos_of(s, op, pid, history=True)
        data, media, row = photos.read_photo(s, op, store, second.id)
    assert [p["kind"] for p in listed] == ["front", "mark", "mark"]
    assert listed[0]["id"] == second.id and len(history) == 4
    assert media == "image/png" and data == image("PNG", colour=(10, 10, 10)) and row["active"]
    assert {"photo.upload", "photo.list", "photo.image"} <= set(actions(db))


def test_upload_refuses_bad_images_and_writes_nothing(env):
    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8000, 5000)).save(buf, "PNG")  # 40 Mpx, a few kB compressed
    cases = [b"", b"not an image", image("GIF"), image(size=(30, 30)), image()[:200], buf.getvalue()]
    kinds = []
    for data in cases:
        with pytest.raises(ValidationError) as err:
            upload(db, store, op, pid, "front", data)
        assert err.value.field == "image"
        kinds.append([(d.get("type"), d.get("values")) for d in err.value.details])
    # the sizes by their kind and limit, said by the pages in the officer's language
    assert kinds[3] == [("photo_too_small", {"side": 64})]
    assert kinds[5] == [("photo_too_many_pixels", {"limit": "30,000,000"})]
    with pytest.raises(ValidationError) as err:
        upload(db, store, op, pid, "profile", image())
    assert err.value.field == "kind"
    with db.transaction() as s:
        assert s.scalar(select(PersonPhoto.id)) is None
    assert not list((store.root / "photo").rglob("*.*")) if (store.root / "photo").exists() else True


def test_roles(env):
    db, store = env
    pid = make_person(db)
    row = upload(db, store, make_principal(db), pid, "front", image())
    with pytest.raises(PermissionDenied):  # another district may not add
        upload(db, store, make_principal(db, "cro_operator", "BA/MKN/GWADAR"), pid, "left", image())
    for role in ("administrator", "auditor"):
        with pytest.raises(PermissionDenied), db.transaction() as s:
            photos.read_photo(s, make_principal(db, role), store, row.id)
    with db.transaction() as s:  # an investigator of another district may see it
        data, _, _ = photos.read_photo(
            s, make_principal(db, "investigating_officer", "BA/MKN/GWADAR"), store, row.id
        )
    assert data == image()


def test_store_is_encrypted_store(env):
    assert isinstance(env[1], EncryptedStore)


def test_photos_follow_a_merge(env):
    from crms.faces.photos import follow_merge
    from crms.records.participants import register_merge_participant
    from crms.records.services import merge_persons

    register_merge_participant(follow_merge)  # as the composition roots (API, CLI) do
    db, store = env
    op = make_principal(db)
    survivor, merged = make_person(db), make_person(db)
    kept = upload(db, store, op, survivor, "front", image()).id
    other = upload(db, store, op, merged, "front", image(colour=(9, 9, 9))).id
    side = upload(db, store, op, merged, "left", image(colour=(8, 8, 8))).id
    with db.transaction() as s:
        merge_persons(s, make_principal(db, "supervisor"), {"survivor_id": survivor, "merged_id": merged,
                                                           "reason": "same man"})  # fmt: skip
        listed = photos.photos_of(s, op, merged)  # the merged id answers with the survivor's photos
    assert [(p["id"], p["kind"]) for p in listed] == [(kept, "front"), (side, "left")]
    with db.transaction() as s:
        assert not s.get(PersonPhoto, other).active and s.get(PersonPhoto, other).person_id == survivor


def test_a_photo_taken_in_error_is_taken_off_with_a_reason_and_the_view_it_replaced_comes_back(env):
    from crms.errors import Conflict, NotFound
    from tests.records._support import audit_entries

    db, store = env
    pid = make_person(db)
    op = make_principal(db)
    right = upload(db, store, op, pid, "front", image())
    wrong = upload(db, store, op, pid, "front", image("PNG", colour=(10, 10, 10)))  # another man's
    mark = upload(db, store, op, pid, "mark", image(colour=(1, 2, 3)))
    for reason in (None, "  "):
        with pytest.raises(ValidationError) as err, db.transaction() as s:
            photos.remove_photo(s, op, wrong.id, reason)
        assert err.value.field == "reason"
    with pytest.raises(PermissionDenied), db.transaction() as s:  # another district's operator
        photos.remove_photo(s, make_principal(db, "cro_operator", "BA/MKN/GWADAR"), wrong.id, "not him")
    with pytest.raises(NotFound), db.transaction() as s:
        photos.remove_photo(s, op, 999_999, "not him")

    with db.transaction() as s:
        removed, back = photos.remove_photo(s, op, wrong.id, " another man's photo ")
        assert (removed.active, back.id) == (False, right.id)
    with db.transaction() as s:
        assert [p["id"] for p in photos.photos_of(s, op, pid)] == [right.id, mark.id]
        assert len(photos.photos_of(s, op, pid, history=True)) == 3  # kept as a replaced one
    with pytest.raises(Conflict), db.transaction() as s:
        photos.remove_photo(s, op, wrong.id, "again")
    with db.transaction() as s:  # a mark photo brings nothing back; the last front leaves none current
        assert photos.remove_photo(s, op, mark.id, "not his tattoo")[1] is None
        assert photos.remove_photo(s, op, right.id, "blurred")[1] is None
        assert photos.photos_of(s, op, pid) == []
    (entry, *_) = audit_entries(db, action="photo.remove")
    assert entry.reason == "another man's photo" and f'"current_again": {right.id}' in entry.query
