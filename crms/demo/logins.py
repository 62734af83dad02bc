"""The demo users' logins: what ``crms demo`` prints once and keeps in ``<data dir>/demo/logins.txt`` (0600).

Each TOTP secret is shown as its ``otpauth://`` URI and as a QR code drawn with text blocks (``segno``), so
that an authenticator app can scan it from the terminal or from the file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

LOGINS_FILE = Path("demo") / "logins.txt"


def qr_text(uri: str) -> str:
    """A QR code of ``uri`` in Unicode half blocks (two modules a character row), dark on light."""
    import segno

    out = io.StringIO()
    segno.make(uri, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def login_lines(users: list[dict], *, qr: bool = True) -> list[str]:
    """Lines for the users created now (a user that existed keeps its password, which is not known)."""
    lines: list[str] = []
    for u in users:
        if not u.get("created"):
            continue
        if u.get("password"):
            secret = f"password {u['password']}"
        else:
            secret = f"phone {u['phone']}  PIN {u['pin']}"
        lines.append(f"  {u['username']:<18} {u['role']:<22} {secret}")
        if u.get("totp_secret"):
            lines.append(f"    TOTP secret {u['totp_secret']}")
            if u.get("totp_uri"):
                lines.append(f"    {u['totp_uri']}")
                if qr:
                    lines += ["    " + row for row in qr_text(u["totp_uri"]).splitlines()]
    return lines


HOW_TO_LOG_IN = [
    "Each password works once: the first login must set a new one. To work as one of them from this shell",
    "(CRMS_TOTP: the code of the authenticator app, for roles that have a TOTP secret):",
    "  export CRMS_USER=demo_operator CRMS_PASSWORD='<password above>' CRMS_TOTP=<code>",
    "  crms passwd                              # choose your own password (asked for)",
    "  export CRMS_PASSWORD='<your new password>' CRMS_TOTP=<a fresh code>",
    '  eval "$(crms login)"                     # one login: sets CRMS_TOKEN for the commands that follow',
    "  unset CRMS_PASSWORD CRMS_TOTP",
]


def write_logins(data_dir: Path, lines: list[str]) -> Path:
    """Write the logins to ``<data dir>/demo/logins.txt``, readable by the owner only (mode 0600)."""
    path = Path(data_dir) / LOGINS_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when the file existed with other bits
        with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as f:
            f.write(
                "CRMS demo users (unit BA): passwords are stored only as hashes; this is the only copy.\n"
            )
            f.write("\n".join(lines + [""] + HOW_TO_LOG_IN) + "\n")
    finally:
        os.close(fd)
    return path
