"""Biometric files encrypted at rest (AES-256-GCM), refs that cannot traverse paths, key handling,
watermarks."""

from __future__ import annotations

import base64
import os

import pytest

from crms.access.crypto import EncryptedStore, load_data_key, watermark_image, watermark_text
from crms.errors import NotFound, ValidationError

SECRET = b"\xffWSQ fingerprint bytes \x00\x01 Ali s/o Khan 35202-1234567-1"


def test_roundtrip_and_ciphertext_on_disk(tmp_path):
    store = EncryptedStore(tmp_path)
    ref = store.put("fingerprint", SECRET)
    assert ref.startswith("fingerprint/") and len(ref.split("/")[1]) == 32
    assert store.get(ref) == SECRET
    files = [p for p in (tmp_path / "biometrics").rglob("*") if p.is_file()]
    assert len(files) == 1
    raw = files[0].read_bytes()
    assert SECRET not in raw and b"Ali" not in raw
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    assert store.put("fingerprint", SECRET) != ref  # random refs


def test_generated_key_file_is_private_and_stable(tmp_path, monkeypatch):
    monkeypatch.delenv("CRMS_DATA_KEY", raising=False)
    k1 = load_data_key(tmp_path)
    key_file = tmp_path / "keys" / "data.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert load_data_key(tmp_path) == k1 and len(k1) == 32
    ref = EncryptedStore(tmp_path).put("photo", b"jpeg")
    assert EncryptedStore(tmp_path).get(ref) == b"jpeg"  # a new process reads with the same key


def test_configured_key(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    store = EncryptedStore(tmp_path, data_key=key)
    ref = store.put("template", b"minutiae")
    assert not (tmp_path / "keys" / "data.key").exists()
    with pytest.raises(ValidationError):  # the wrong key cannot read it
        EncryptedStore(tmp_path, data_key=base64.b64encode(os.urandom(32)).decode()).get(ref)
    for bad in ("short", base64.b64encode(b"x" * 16).decode(), "!!!"):
        with pytest.raises(ValidationError):
            EncryptedStore(tmp_path, data_key=bad)


@pytest.mark.parametrize(
    "ref",
    [
        "../../etc/passwd",
        "fingerprint/../../keys/data.key",
        "fingerprint/../photo/0123456789abcdef0123456789abcdef",
        "/etc/passwd",
        "fingerprint//etc/passwd",
        "fingerprint/0123456789abcdef0123456789abcdeg",
        "fingerprint/0123456789ABCDEF0123456789ABCDEF",
        "keys/0123456789abcdef0123456789abcdef",
        "fingerprint/0123456789abcdef0123456789abcdef/..",
        "fingerprint\\..\\..\\x",
        "fingerprint/0123456789abcdef0123456789abcdef\x00.png",
        "",
    ],
)
def test_path_traversal_refs_refused(tmp_path, ref):
    store = EncryptedStore(tmp_path)
    (tmp_path / "keys").mkdir(exist_ok=True)
    with pytest.raises(ValidationError) as err:
        store.get(ref)
    assert err.value.field == "ref"
    with pytest.raises(ValidationError):
        store.delete(ref)


def test_unknown_kind_and_missing_ref(tmp_path):
    store = EncryptedStore(tmp_path)
    with pytest.raises(ValidationError) as err:
        store.put("../x", b"1")
    assert err.value.field == "kind"
    with pytest.raises(NotFound) as missing:
        store.get("photo/0123456789abcdef0123456789abcdef")
    # its kind, for the pages to say it in the officer's language; the ref stays in the English words only
    assert missing.value.details == [{"field": "ref", "message": missing.value.message,
                                      "type": "stored_file_missing", "values": {}}]  # fmt: skip


def test_tampered_or_moved_file_fails_authentication(tmp_path):
    store = EncryptedStore(tmp_path)
    ref = store.put("fingerprint", SECRET)
    path = next(p for p in (tmp_path / "biometrics").rglob("*") if p.is_file())
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(ValidationError, match="failed authentication") as err:
        store.get(ref)
    assert err.value.details[0]["type"] == "stored_file_damaged"
    # A valid file copied under another ref (swapping two people's prints) does not decrypt either.
    ref2 = store.put("fingerprint", b"other person")
    other = store._path(ref2)
    good = store.put("fingerprint", SECRET)
    other.write_bytes(store._path(good).read_bytes())
    with pytest.raises(ValidationError) as err:
        store.get(ref2)
    assert err.value.details[0]["type"] == "stored_file_damaged"
    # and a file that is no CRMS object at all (cut short, or another program's)
    other.write_bytes(b"not ours")
    with pytest.raises(ValidationError, match="not a CRMS encrypted object") as err:
        store.get(ref2)
    assert err.value.details[0]["type"] == "stored_file_damaged"


def test_watermark(tmp_path):
    import io
    from datetime import UTC, datetime

    from PIL import Image

    text = watermark_text("op_quetta", datetime(2026, 11, 29, 3, 30, tzinfo=UTC), purpose="FIR 12/2026")
    assert "op_quetta" in text and "2026-11-29 03:30 UTC" in text and "FIR 12/2026" in text
    src = io.BytesIO()
    Image.new("RGB", (200, 120), "white").save(src, format="PNG")
    out = Image.open(io.BytesIO(watermark_image(src.getvalue(), text))).convert("RGB")
    assert out.size == (200, 120)
    assert out.getextrema() != ((255, 255), (255, 255), (255, 255))  # something was drawn
