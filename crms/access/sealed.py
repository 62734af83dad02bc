"""Small secrets kept in the database encrypted with the data key (AES-256-GCM), so that a copy of the
database alone does not give them away: TOTP secrets so far.

``seal(key, text, context) -> "v1.<base64url(nonce || ciphertext)>"`` and ``unseal(key, value, context)``;
``context`` (e.g. ``"totp:<user id>"``) is bound in as associated data, so a value copied to another row fails
to decrypt. The key is the data key of crms.access.crypto (CRMS_DATA_KEY, or ``<data dir>/keys/data.key``),
found from the session's data dir (:func:`crms.access.audit.data_dir_of`). A value without the ``v1.`` prefix
is a secret written before encryption at rest (migration 0005_auth encrypts those).
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from crms.errors import CrmsError

PREFIX = "v1."
_keys: dict[tuple[str, str | None], bytes] = {}


def data_key_for(session: Session) -> bytes:
    """The data key of the data dir bound to ``session`` (read once per process and data dir)."""
    from crms.access.audit import data_dir_of
    from crms.access.crypto import load_data_key

    data_dir = data_dir_of(session)
    ident = (str(data_dir), os.environ.get("CRMS_DATA_KEY"))
    key = _keys.get(ident)
    if key is None:
        key = _keys[ident] = load_data_key(data_dir)
    return key


def is_sealed(value: str | None) -> bool:
    return bool(value) and value.startswith(PREFIX)


def seal(key: bytes, text: str, context: str) -> str:
    nonce = secrets.token_bytes(12)
    ct = AESGCM(key).encrypt(nonce, text.encode(), context.encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + ct).decode().rstrip("=")


def unseal(key: bytes, value: str, context: str) -> str:
    if not is_sealed(value):
        return value  # written before encryption at rest
    raw = value[len(PREFIX) :]
    try:
        blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        return AESGCM(key).decrypt(blob[:12], blob[12:], context.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise CrmsError(
            f"a sealed secret ({context.split(':')[0]}) does not decrypt with this data key"
        ) from exc
