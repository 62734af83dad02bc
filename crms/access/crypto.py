"""Encryption at rest for biometric files (fingerprint and photo images, templates), kept apart from
identity data, and watermarks for exports.

``EncryptedStore(data_dir)`` writes each object as one AES-256-GCM file under ``<data dir>/biometrics``:
``put(kind, data) -> ref`` and ``get(ref) -> bytes``. A ref is ``<kind>/<32 hex chars>`` (random, never
derived from user input); refs are validated against a strict pattern, so no ref can name a path outside the
store (path traversal is impossible). The kind and ref are bound into the ciphertext as associated data, so a
file moved or renamed inside the store fails to decrypt. The key is CRMS_DATA_KEY (base64 of 32 bytes) or,
when not configured, generated once into ``<data dir>/keys/data.key`` with 0600 permissions.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from datetime import datetime
from pathlib import Path

from crms.errors import NotFound, ValidationError, rule_error
from crms.timeutil import utcnow

MAGIC = b"CRMS1"
KINDS = frozenset({"fingerprint", "photo", "template", "face", "palm", "document", "export"})
_REF_RE = re.compile(r"^(?P<kind>[a-z]{2,16})/(?P<id>[0-9a-f]{32})$")
MAX_OBJECT = 64 * 1024 * 1024


def load_data_key(data_dir: Path, configured: str | None = None) -> bytes:
    """The key for biometric files at rest: CRMS_DATA_KEY, or ``<data dir>/keys/data.key`` (made once)."""
    return load_key(data_dir, "data", "CRMS_DATA_KEY", configured)


def load_audit_key(data_dir: Path, configured: str | None = None) -> bytes:
    """The key that anchors the audit chain (an HMAC key over each entry and the audit-head file):
    CRMS_AUDIT_KEY, or ``<data dir>/keys/audit.key`` (made once, 0600). It is never stored in the database,
    so write access to the database alone cannot produce an entry that verifies."""
    return load_key(data_dir, "audit", "CRMS_AUDIT_KEY", configured)


def load_key(data_dir: Path, name: str, env: str, configured: str | None = None) -> bytes:
    """A 32-byte key: from ``configured`` or the environment variable ``env`` (base64), else from
    ``<data dir>/keys/<name>.key``, generated there once with 0600 permissions (directory 0700)."""
    configured = configured if configured is not None else os.environ.get(env)
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(f"{env} must be base64 of 32 bytes", field=env) from None
        if len(key) != 32:
            raise ValidationError(f"{env} must be base64 of exactly 32 bytes", field=env)
        return key
    path = data_dir / "keys" / f"{name}.key"
    if path.exists():
        key = base64.b64decode(path.read_bytes().strip())
        if len(key) != 32:
            raise ValidationError(f"{path} does not hold a 32-byte key", field=f"{name}_key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)  # what AESGCM.generate_key(bit_length=256) returns: os.urandom(32)
    # Written whole to a private temporary file, then linked into place: a process that starts at the same
    # moment (server workers) sees either no key file or a complete one, never an empty one.
    tmp = path.with_name(f".{name}.key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(key) + b"\n")
    try:
        os.link(tmp, path)
    except FileExistsError:  # another process won the race: use its key
        return load_key(data_dir, name, env, configured)
    finally:
        tmp.unlink()
    return key


def validate_ref(ref: str) -> tuple[str, str]:
    m = _REF_RE.match(ref) if isinstance(ref, str) else None
    if m is None or m.group("kind") not in KINDS:
        raise ValidationError(f"invalid file reference {ref!r}", field="ref")
    return m.group("kind"), m.group("id")


class EncryptedStore:
    def __init__(self, data_dir: Path | str, *, key: bytes | None = None, data_key: str | None = None):
        # cryptography is imported here, not at start-up: the audit key (every command) needs no cipher
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "biometrics"
        self._aead = AESGCM(key if key is not None else load_data_key(self.data_dir, data_key))

    @classmethod
    def from_settings(cls, settings) -> EncryptedStore:
        return cls(settings.data_dir, data_key=settings.data_key)

    def _path(self, ref: str) -> Path:
        kind, ident = validate_ref(ref)
        path = (self.root / kind / ident[:2] / ident).resolve()
        if self.root.resolve() not in path.parents:  # belt and braces; the pattern already prevents it
            raise ValidationError(f"invalid file reference {ref!r}", field="ref")
        return path

    def put(self, kind: str, data: bytes) -> str:
        if kind not in KINDS:
            raise ValidationError(f"unknown kind {kind!r} (one of {', '.join(sorted(KINDS))})", field="kind")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValidationError("data must be bytes", field="data")
        if len(data) > MAX_OBJECT:
            raise ValidationError(f"object larger than {MAX_OBJECT} bytes", field="data")
        ref = f"{kind}/{secrets.token_hex(16)}"
        path = self._path(ref)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        nonce = secrets.token_bytes(12)
        blob = MAGIC + nonce + self._aead.encrypt(nonce, bytes(data), ref.encode())
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
        return ref

    def get(self, ref: str) -> bytes:
        path = self._path(ref)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise rule_error("ref", "stored_file_missing", f"no stored file {ref}", error=NotFound) from None
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 12 + 16:
            message = f"stored file {ref} is not a CRMS encrypted object"
            raise rule_error("ref", "stored_file_damaged", message)
        nonce = blob[len(MAGIC) : len(MAGIC) + 12]
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(nonce, blob[len(MAGIC) + 12 :], ref.encode())
        except InvalidTag:
            message = f"stored file {ref} failed authentication (tampered or wrong key)"
            raise rule_error("ref", "stored_file_damaged", message) from None

    def delete(self, ref: str) -> bool:
        path = self._path(ref)
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False

    def exists(self, ref: str) -> bool:
        return self._path(ref).exists()


def watermark_text(username: str, at: datetime | None = None, *, purpose: str | None = None) -> str:
    """The line printed on every export/printout: who requested it and when (UTC)."""
    at = at or utcnow()
    text = f"CRMS Balochistan - CONFIDENTIAL - {username} - {at:%Y-%m-%d %H:%M} UTC"
    return text + (f" - {purpose}" if purpose else "")


def watermark_image(image_bytes: bytes, text: str) -> bytes:
    """Stamp ``text`` diagonally and along the bottom of an image (PNG out)."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    img = Image.open(io.BytesIO(image_bytes)).convert("RGBA")
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    font = ImageFont.load_default()
    w, h = img.size
    step = max(40, h // 6)
    for y in range(0, h, step):
        draw.text((5, y), text, fill=(255, 0, 0, 90), font=font)
    draw.rectangle([0, h - 14, w, h], fill=(255, 255, 255, 200))
    draw.text((2, h - 13), text, fill=(0, 0, 0, 255), font=font)
    out = io.BytesIO()
    Image.alpha_composite(img, overlay).convert("RGB").save(out, format="PNG")
    return out.getvalue()
