"""User accounts: creation, administration, and authentication (password + TOTP, phone + PIN for SMS
officers); failed logins are slowed down, never locking an account.

Low-level helpers (``create_user``, ``hash_password``) take only a session; the administration services
(``add_user``, ``list_users``, ``set_active``, ``set_role``, ``reset_mfa``, ``reset_sms_login``) take the
caller's principal, check ``user:admin`` and are audited. ``login``/``login_sms`` take the Database: a
failure is recorded (counter, audit entry) in its own committed transaction before the error is raised.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.models import User
from crms.access.policy import PASSWORD_ROLES, Permission, Role, authorize, mfa_required, unit_contains
from crms.access.principal import PROVINCE, Principal
from crms.access.units import check_unit, normalise_unit
from crms.errors import (
    AuthenticationError,
    Conflict,
    CrmsError,
    NotFound,
    PasswordChangeRequired,
    RateLimited,
    ValidationError,
    limit_error,
    rule_error,
)
from crms.timeutil import as_utc, iso_or_none, utcnow

# Argon2id with the OWASP Password Storage Cheat Sheet parameters (19 MiB, 2 passes, 1 lane): well under
# 0.1 s here, cheap enough for logins on a 2-core server, costly for an attacker with the hashes.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_dummy_hash: list[str] = []

TOTP_STEP = 30
MIN_PASSWORD = 10
MIN_STRENGTH = 3  # zxcvbn score (0-4)
_COMMON: list[frozenset[str]] = []
ENROLMENT_TTL = timedelta(hours=72)
# Roles whose new accounts (and whose role changes, resets) wait for a second administrator's approval.
PRIVILEGED_ROLES = frozenset({Role.AUDITOR.value, Role.EXAMINER.value, Role.ADMINISTRATOR.value})
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PIN_RE = re.compile(r"^[0-9]{4,8}$")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify_hash(stored: str | None, secret: str) -> bool:
    if not stored:  # spend the same time for unknown users (no user enumeration by timing)
        if not _dummy_hash:
            _dummy_hash.append(_hasher.hash("not-a-password-" + "x" * 16))
        try:
            _hasher.verify(_dummy_hash[0], secret + "!")
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return _hasher.verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False


def _check_password_strength(
    password: str, *, user_inputs: tuple[str, ...] = (), field: str = "password"
) -> None:
    """The password rules: 10 to 256 characters; not one of the 30,000 most common passwords of the breach
    corpora that zxcvbn ships (an offline list: no maintained package ships the full breached-password list
    offline, and nothing may be fetched at run time); and not guessable by zxcvbn's estimator (score 3 of 4 at
    least), given the user's own name and username."""
    if len(password) < MIN_PASSWORD:
        message = f"password must be at least {MIN_PASSWORD} characters"
        raise limit_error(field, "string_too_short", MIN_PASSWORD, message)
    if len(password) > 256:
        raise ValidationError("password must be at most 256 characters", field=field)
    if password.strip().lower() in _common_passwords():
        raise ValidationError("this password is on a list of common (breached) passwords", field=field)
    from zxcvbn import zxcvbn

    inputs = [i for i in user_inputs if i]
    # The estimator reads the first 100 characters (it raises past its max_length, 72 by default, and its
    # time grows with the length); a passphrase's later words only add to its strength.
    if zxcvbn(password[:100], user_inputs=inputs, max_length=100)["score"] < MIN_STRENGTH:
        raise ValidationError(
            "password too easy to guess: use a longer one, e.g. several unrelated words", field=field
        )


def _common_passwords() -> frozenset[str]:
    if not _COMMON:
        from zxcvbn.frequency_lists import FREQUENCY_LISTS

        _COMMON.append(frozenset(FREQUENCY_LISTS["passwords"]))
    return _COMMON[0]


def check_password_rules(password: str, *, username: str = "", full_name: str = "") -> None:
    """Raise ValidationError (field ``password``) when ``password`` breaks the rules."""
    _check_password_strength(password, user_inputs=(username, *full_name.split()))


def _normalise_phone(phone: str) -> str:
    import phonenumbers

    try:
        num = phonenumbers.parse(phone, "PK")
    except phonenumbers.NumberParseException:
        raise rule_error("phone", "phone_invalid", f"not a phone number: {phone!r}", phone=phone) from None
    if not phonenumbers.is_valid_number(num):
        raise rule_error("phone", "phone_invalid", f"not a valid phone number: {phone!r}", phone=phone)
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _phone_taken(phone: str) -> CrmsError:
    message = f"phone {phone} is registered to another user"
    return rule_error("phone", "phone_taken", message, error=Conflict, phone=phone)


def account_role(role: str | None) -> str:
    """The role an account may be given, or ValidationError naming ``role`` (none chosen, unknown, system)."""
    if not (role or "").strip():
        raise ValidationError("a role is required: choose the one the officer's duties need", field="role")
    try:
        role = Role(role).value
    except ValueError:
        raise ValidationError(f"unknown role '{role}'", field="role") from None
    if role == Role.SYSTEM:
        raise ValidationError("the system role cannot be given to an account", field="role")
    return role


def create_user(
    session: Session,
    username: str,
    role: str,
    *,
    unit: str = PROVINCE,
    full_name: str = "",
    password: str | None = None,
    phone: str | None = None,
    pin: str | None = None,
    totp: bool | None = None,
    must_change_password: bool = False,
) -> User:
    """Create an account directly (no permission check): the documented bootstrap path, used by
    :func:`bootstrap_administrator`, the demo loader (with ``must_change_password=True``: its printed
    passwords work once, for setting a new one) and test fixtures. Administrators create accounts with
    :func:`add_user` instead. ``totp=None`` enrols TOTP when the role requires it; the secret is then on
    ``user.new_totp_secret`` (show it once, e.g. as :func:`totp_uri`); the database holds it encrypted."""
    role = account_role(role)
    if not username or not USERNAME_RE.match(username):
        raise ValidationError(
            "username must be 1-64 characters: letters, digits, '.', '_' or '-'", field="username"
        )
    if len(full_name) > 200:
        raise ValidationError("full name must be at most 200 characters", field="full_name")
    unit = check_unit(session, unit)
    if password is not None:
        check_password_rules(password, username=username, full_name=full_name)
    if phone is not None:
        phone = _normalise_phone(phone)
    if pin is not None and not PIN_RE.match(pin):
        raise ValidationError("PIN must be 4-8 digits", field="pin")
    if role == Role.SMS_OFFICER and (phone is None or pin is None):
        raise ValidationError(
            "an SMS officer needs a phone number and a PIN", field="phone" if not phone else "pin"
        )
    if role != Role.SMS_OFFICER and pin is not None:  # a PIN opens the SMS login: SMS officers' only
        raise ValidationError("a PIN is for an SMS officer only: leave it empty for this role", field="pin")
    if session.scalar(select(User).where(func.lower(User.username) == username.lower())):
        raise rule_error("username", "username_taken", f"user '{username}' already exists", error=Conflict,
                         username=username)  # fmt: skip
    if phone and session.scalar(select(User).where(User.phone == phone)):
        raise _phone_taken(phone)
    enrol = mfa_required(role) if totp is None else totp
    user = User(
        username=username,
        role=role,
        unit=unit,
        full_name=full_name,
        phone=phone,
        password_hash=hash_password(password) if password else None,
        pin_hash=hash_password(pin) if pin else None,
        failed_logins=0,
        is_active=True,
        must_change_password=bool(password) and must_change_password,
        password_changed_at=utcnow() if password else None,
    )
    session.add(user)
    session.flush()
    user.new_totp_secret = None
    if enrol:
        _new_totp(session, user)
    return user


# ------------------------------------------------------------------------------- TOTP secrets, sealed at rest


def _new_totp(session: Session, user: User) -> str:
    """Give ``user`` a fresh TOTP secret, stored encrypted (bound to its id); the plain secret is kept on
    ``user.new_totp_secret`` for showing once."""
    from crms.access.sealed import data_key_for, seal

    secret = pyotp.random_base32()
    user.totp_secret = seal(data_key_for(session), secret, f"totp:{user.id}")
    user.totp_last_step = None
    user.new_totp_secret = secret
    return secret


def _totp_of(session: Session, user: User) -> str | None:
    from crms.access.sealed import data_key_for, unseal

    if not user.totp_secret:
        return None
    return unseal(data_key_for(session), user.totp_secret, f"totp:{user.id}")


def _note_failure(user: User | None) -> None:
    """Count a failed login on the account, for its administrators to see. It never locks the account:
    guessing is slowed down per account name and client address together (crms.access.ratelimit), so that
    nobody can lock an owner out by failing on purpose."""
    if user is not None:
        user.failed_logins = (user.failed_logins or 0) + 1


def totp_uri(user: User) -> str | None:
    """The ``otpauth://`` URI of a TOTP secret just issued (``user.new_totp_secret``); None otherwise."""
    secret = getattr(user, "new_totp_secret", None)
    if not secret:
        return None
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name="CRMS Balochistan")


def user_dict(user: User) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "unit": user.unit,
        "phone": user.phone,
        "is_active": user.is_active,
        "mfa": bool(user.totp_secret),
        "must_change_password": bool(user.must_change_password),
        "enrolment_pending": user.enrolment_code_hash is not None,
        "approval_pending": bool(user.approval_pending),
        "set_up_by": user.set_up_by,
        "failed_logins": user.failed_logins or 0,
        "last_login_at": iso_or_none(user.last_login_at),
        "created_at": iso_or_none(user.created_at),
    }


def principal_for(user: User, *, channel: str, address: str | None = None, scopes=None) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        unit=user.unit,
        channel=channel,
        address=address,
        scopes=scopes,
    )


# --------------------------------------------------------------------------------------------- administration


def _get(session: Session, user_id: int | str) -> User:
    user = (
        session.get(User, int(user_id))
        if isinstance(user_id, int) or (str(user_id).isascii() and str(user_id).isdigit())
        else session.scalar(select(User).where(User.username == str(user_id)))
    )
    if user is None:
        raise NotFound(f"no user {user_id!r}", field="user")
    return user


def _authorize_admin(principal: Principal, unit: str | None) -> None:
    authorize(principal, Permission.USER_ADMIN)
    if unit is not None and not unit_contains(principal.unit, unit):
        from crms.errors import PermissionDenied

        raise PermissionDenied(
            f"unit {unit} is outside your jurisdiction ({principal.unit})", kind="jurisdiction"
        )


def get_user(session: Session, principal: Principal, user_id: int | str) -> User:
    _authorize_admin(principal, None)  # the role first: no caller learns which accounts exist
    user = _get(session, user_id)
    _authorize_admin(principal, user.unit)
    return user


def _issue_enrolment_code(session: Session, principal: Principal, user: User) -> str:
    """A one-time enrolment code for ``user`` (shown once, to hand to the user; only its SHA-256 is kept),
    valid for ENROLMENT_TTL. The account's password is cleared: only the holder of the code can set one,
    with :func:`activate`, and never from the address of the administrator who set it up."""
    code = "-".join(secrets.token_hex(3) for _ in range(4))  # 48 bits, easy to read out and type
    user.enrolment_code_hash = hashlib.sha256(code.encode()).hexdigest()
    user.enrolment_expires_at = utcnow() + ENROLMENT_TTL
    user.password_hash = None
    user.must_change_password = False
    user.set_up_by = principal.user_id
    user.set_up_address = principal.address
    user.enrolment_code = code
    return code


def _needs_approval(session: Session, principal: Principal, user: User) -> None:
    """A privileged role waits for a second administrator (not ``principal``, who set it up)."""
    if user.role in PRIVILEGED_ROLES:
        user.approval_pending = True
        user.approved_by = None
        user.set_up_by = principal.user_id


def add_user(session: Session, principal: Principal, username: str, role: str, **kw) -> User:
    """An administrator creates an account within its unit. The administrator never chooses the password:
    the account gets a one-time enrolment code (``user.enrolment_code``, shown once) that only the user turns
    into a password (:func:`activate`); a TOTP secret, where the role needs one, is issued to the user then.
    A privileged role (auditor, examiner, administrator) also waits for a second administrator's approval
    (:func:`approve`). Audited as ``user.create``."""
    _authorize_admin(principal, normalise_unit(kw.get("unit", PROVINCE)))
    if kw.pop("password", None) is not None:
        raise ValidationError(
            "an administrator does not choose a user's password: the user sets it with the enrolment code",
            field="password",
        )
    kw["totp"] = False  # a TOTP secret is issued to the user at activation, never to the administrator
    user = create_user(session, username, role, **kw)
    if user.role in PASSWORD_ROLES:
        _issue_enrolment_code(session, principal, user)
    else:
        user.set_up_by, user.set_up_address = principal.user_id, principal.address
    _needs_approval(session, principal, user)
    audit.record(
        session,
        principal,
        "user.create",
        target_type="user",
        target_id=user.id,
        query={"username": username, "role": user.role, "unit": user.unit, "approval": user.approval_pending},
    )
    return user


def reset_account(session: Session, principal: Principal, user_id: int | str) -> User:
    """An administrator's reset (forgotten password, lost authenticator): the password and TOTP secret are
    cleared, every token and session revoked, and a new enrolment code issued (``user.enrolment_code``):
    the user must set a new password (and enrol a new authenticator) before logging in again. A privileged
    account waits for a second administrator's approval again. Audited as ``user.reset``."""
    user = _get(session, user_id)
    _authorize_admin(principal, user.unit)
    if user.id == principal.user_id:
        raise ValidationError("change your own password instead (crms passwd)", field="user")
    if user.role not in PASSWORD_ROLES:
        raise ValidationError(
            "an SMS officer has a PIN, not a password: set a new PIN or phone instead (crms user reset-sms)",
            field="user",
        )
    _issue_enrolment_code(session, principal, user)
    user.totp_secret = None
    user.totp_last_step = None
    user.failed_logins = 0
    user.locked_until = None
    user.updated_at = utcnow()
    _needs_approval(session, principal, user)
    revoke_all_credentials(session, user)
    audit.record(session, principal, "user.reset", target_type="user", target_id=user.id)
    return user


def reset_sms_login(
    session: Session, principal: Principal, user_id: int | str, *, phone: str | None = None,
    pin: str | None = None,
) -> User:  # fmt: skip
    """An administrator's reset of an SMS officer's login (a lost phone, a forgotten or disclosed PIN): a new
    phone number and/or a new PIN, chosen by the administrator and told to the officer in person (the SMS
    login has no way yet for the officer to choose one; it is never shown back). The old PIN or phone stops
    working at once; every token and session of the account is revoked. The SMS officer's role is not a
    privileged one: no second administrator's approval, as for creating the account. Audited as
    ``user.sms_reset`` (the new phone, whether the PIN changed; never the PIN)."""
    _authorize_admin(principal, None)  # the role first, then the account's unit
    user = _get(session, user_id)
    _authorize_admin(principal, user.unit)
    if user.role != Role.SMS_OFFICER:
        raise ValidationError(
            "only an SMS officer has a phone and PIN login: reset this account's password instead",
            field="user",
        )
    phone = (phone or "").strip() or None
    if phone is not None:
        phone = _normalise_phone(phone)
        if phone == user.phone:
            phone = None  # the same number: unchanged
    if phone is None and pin is None:
        raise ValidationError("give a new phone number, a new PIN or both", field="phone")
    if pin is not None and not PIN_RE.match(pin):
        raise ValidationError("PIN must be 4-8 digits", field="pin")
    if phone and session.scalar(select(User).where(User.phone == phone, User.id != user.id)):
        raise _phone_taken(phone)
    if phone is not None:
        user.phone = phone
    if pin is not None:
        user.pin_hash = hash_password(pin)
    user.failed_logins = 0
    user.locked_until = None
    user.updated_at = utcnow()
    _needs_approval(session, principal, user)  # (none for this role, as at its creation)
    revoke_all_credentials(session, user)
    audit.record(session, principal, "user.sms_reset", target_type="user", target_id=user.id,
                 query={"phone": phone, "pin": pin is not None})  # fmt: skip
    return user


def approve(session: Session, principal: Principal, user_id: int | str) -> User:
    """A second administrator approves a privileged account: never the administrator who set it up, nor
    the account itself. Audited as ``user.approve``."""
    from crms.errors import PermissionDenied

    user = _get(session, user_id)
    _authorize_admin(principal, user.unit)
    if not user.approval_pending:
        raise ValidationError("this account is not waiting for approval", field="user")
    if principal.user_id in (user.set_up_by, user.id):
        raise PermissionDenied("a second administrator must approve an account you set up", field="user")
    user.approval_pending = False
    user.approved_by = principal.user_id
    user.updated_at = utcnow()
    audit.record(session, principal, "user.approve", target_type="user", target_id=user.id)
    return user


def list_users(session: Session, principal: Principal, *, include_inactive: bool = True) -> list[User]:
    authorize(principal, Permission.USER_ADMIN)
    stmt = select(User).order_by(User.username)
    if not include_inactive:
        stmt = stmt.where(User.is_active.is_(True))
    users = [u for u in session.scalars(stmt) if unit_contains(principal.unit, u.unit)]
    audit.record(session, principal, "user.list", query={"count": len(users)})
    return users


def _last_province_administrator(session: Session, user: User) -> bool:
    """Whether ``user`` is the province's only administrator able to act (active and approved): disabling
    it would leave nobody to administer the accounts of the whole province."""
    if user.role != Role.ADMINISTRATOR or user.unit != PROVINCE:
        return False
    if not user.is_active or user.approval_pending:
        return False
    others = select(func.count()).where(
        User.role == Role.ADMINISTRATOR.value,
        User.unit == PROVINCE,
        User.is_active.is_(True),
        User.approval_pending.is_(False),
        User.id != user.id,
    )
    return not session.scalar(others)


def set_active(session: Session, principal: Principal, user_id: int | str, active: bool) -> User:
    """Disable (tokens and sessions revoked) or enable an account. Disabling is protective (a compromised
    account) and takes effect at once, without a second administrator; a privileged account's (see
    PRIVILEGED_ROLES) also raises an ``alert.privileged_disabled`` entry for the auditors. The province's
    last active administrator is never disabled (Conflict), so that the accounts can still be administered.
    Audited as ``user.disable`` / ``user.enable``."""
    _authorize_admin(principal, None)
    user = _get(session, user_id)
    _authorize_admin(principal, user.unit)
    if not active and user.id == principal.user_id:
        raise ValidationError("you cannot disable your own account", field="user")
    if not active and _last_province_administrator(session, user):
        raise Conflict(
            f"{user.username} is the last active administrator of the province ({PROVINCE}): enable or "
            "approve another administrator there first",
            field="user",
        )
    alert = not active and user.is_active and user.role in PRIVILEGED_ROLES
    user.is_active = active
    user.updated_at = utcnow()
    if not active:
        revoke_all_credentials(session, user)
    audit.record(
        session, principal, "user.enable" if active else "user.disable", target_type="user", target_id=user.id
    )
    if alert:
        audit.record(
            session,
            principal,
            "alert.privileged_disabled",
            target_type="user",
            target_id=user.id,
            outcome="alert",
            query={"role": user.role, "unit": user.unit},
            detail=f"{principal.username} disabled the {user.role} account {user.username} ({user.unit})",
        )
    return user


def set_role(
    session: Session, principal: Principal, user_id: int | str, role: str, unit: str | None = None
) -> User:
    """Change a user's role (and unit). Tokens and sessions are revoked; a privileged role waits for a
    second administrator's approval; a role that needs TOTP, for an account without it, resets the account
    (``user.enrolment_code``: the user enrols the authenticator, the administrator never sees it)."""
    user = _get(session, user_id)
    _authorize_admin(principal, user.unit)
    role = account_role(role)
    if user.id == principal.user_id:
        raise ValidationError("you cannot change your own role or unit", field="user")
    new_unit = normalise_unit(unit) if unit is not None else user.unit
    _authorize_admin(principal, new_unit)
    if unit is not None:
        check_unit(session, new_unit)
    old = {"role": user.role, "unit": user.unit}
    user.role, user.unit = role, new_unit
    user.enrolment_code = None
    if role != old["role"] or new_unit != old["unit"]:
        _needs_approval(session, principal, user)
    if mfa_required(role) and not user.totp_secret and role in PASSWORD_ROLES:
        _issue_enrolment_code(session, principal, user)
    user.updated_at = utcnow()
    revoke_all_credentials(session, user)  # tokens and sessions carried the old role
    audit.record(
        session,
        principal,
        "user.role",
        target_type="user",
        target_id=user.id,
        query={"from": old, "to": {"role": role, "unit": new_unit}, "approval": user.approval_pending},
    )
    return user


def reset_mfa(session: Session, principal: Principal, user_id: int | str) -> User:
    """A lost authenticator: the same as :func:`reset_account` (the administrator never sees the new TOTP
    secret: the user enrols it when setting a new password with the enrolment code)."""
    return reset_account(session, principal, user_id)


def revoke_all_credentials(session: Session, user: User) -> None:
    from sqlalchemy import update

    from crms.access.models import ApiToken, WebSession
    from crms.access.tokens import forget_tokens

    forget_tokens(session)  # this process's cache of verified tokens (the others': crms.access.tokens)
    now = utcnow()
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(
        update(WebSession)
        .where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def needs_bootstrap(db) -> bool:
    """True while the database has no user: the first administrator may then be created without a login."""
    with db.transaction() as session:
        return count_users(session) == 0


def _approved_administrators(session: Session) -> int:
    stmt = select(func.count()).where(
        User.role == Role.ADMINISTRATOR.value, User.is_active.is_(True), User.approval_pending.is_(False)
    )
    return session.scalar(stmt) or 0


BOOTSTRAP_ADMINISTRATORS = 2


def bootstrap_administrator(db, username: str, *, address: str | None = None, **kw) -> User:
    """The documented bootstrap path: create an administrator without a login, at the console, with its own
    password (the person at the console is that administrator). Allowed only while fewer than two active,
    approved administrators exist (checked in the creating transaction), so that the two-person rule for
    privileged accounts (:func:`approve`) can start: the first administrators are set up together at the
    console, every later account through :func:`add_user`. Whoever can run it can write to the database
    anyway. Audited as ``user.bootstrap`` under the system principal with the console's address."""
    import dataclasses

    from crms.access.principal import system_principal
    from crms.errors import PermissionDenied

    role = kw.pop("role", Role.ADMINISTRATOR.value)
    if role != Role.ADMINISTRATOR:
        raise PermissionDenied("the first user must be an administrator", field="role")
    with db.transaction() as session:
        if _approved_administrators(session) >= BOOTSTRAP_ADMINISTRATORS:
            raise PermissionDenied("administrators exist already: log in as one", field="user")
        user = create_user(session, username, role, **kw)
        who = dataclasses.replace(system_principal("cli"), address=address)
        audit.record(
            session,
            who,
            "user.bootstrap",
            target_type="user",
            target_id=user.id,
            query={"username": username, "role": role, "unit": user.unit},
        )
        session.expunge(user)
    return user


# --------------------------------------------------------------------------------------------- authentication


def verify_totp(user: User, code: str | None, *, secret: str | None, at=None) -> bool:
    """Accept a code of the current step or one step either side, once: a step at or before the last
    accepted one is a replay and is refused. ``secret``: the user's TOTP secret, decrypted. Updates
    ``user.totp_last_step`` on success."""
    if not secret or not code:
        return False
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(secret, interval=TOTP_STEP)
    now = (at or utcnow()).timestamp()
    step = int(now // TOTP_STEP)
    for candidate in (step - 1, step, step + 1):
        if pyotp.utils.strings_equal(totp.at(candidate * TOTP_STEP), code):
            if user.totp_last_step is not None and candidate <= user.totp_last_step:
                return False  # replayed
            user.totp_last_step = candidate
            return True
    return False


def _anonymous(username: str, channel: str, address: str | None) -> Principal:
    return Principal(
        user_id=None, username=(username or "?")[:64], role="none", channel=channel, address=address
    )


def _attempt(db, username: str, address: str | None, channel: str, action: str, check):
    """One credential check, whatever it is for (login, password change, activation): rate limited per
    name and address and per address (a success spends nothing), audited as ``action`` either way, a
    failure counted on the account (never locking it). ``check(session, user)`` returns the result or raises
    AuthenticationError / PermissionDenied."""
    from crms.access.ratelimit import check_login_rate, login_succeeded
    from crms.errors import PermissionDenied

    error: CrmsError | None = None
    result = None
    # No account's name holds a NUL (a name is stored text): such a name is an unknown one, refused and
    # audited like any, with the NUL shown as U+FFFD (PostgreSQL cannot store it).
    username = (username or "").replace("\x00", "\ufffd")
    with db.transaction() as session:
        who = _anonymous(username, channel, address)
        user = session.scalar(select(User).where(User.username == (username or "")))
        if user is not None:
            who = principal_for(user, channel=channel, address=address)
        try:
            check_login_rate(session, username or "", address)
            result = check(session, user)
            login_succeeded(session, username or "", address)
        except (RateLimited, PermissionDenied) as exc:
            error = exc
        except AuthenticationError as exc:
            error = exc
            _note_failure(user)
        target = user.id if user else None
        if error is not None:
            audit.record(
                session,
                who,
                action,
                outcome="refused",
                detail=error.message,
                target_type="user",
                target_id=target,
            )
        else:
            audit.record(session, who, action, target_type="user", target_id=target)
    if error is not None:
        raise error
    return result


def login(
    db,
    username: str,
    password: str,
    *,
    totp: str | None = None,
    address: str | None = None,
    channel: str = "api",
) -> Principal:
    """Check username + password (+ TOTP). Every attempt is audited. Failures are rate limited per name and
    client address together and per address (crms.access.ratelimit): a successful login spends nothing, and
    an account is never locked (so nobody can lock its owner out). A known and an unknown name get the same
    answer at the same cost (Argon2 runs against a dummy hash for an unknown name). A password that must be
    changed (the demo's) and a privileged account awaiting its second approval are refused once the
    password is checked."""

    def check(session, user):
        return _check_credentials(session, user, password, totp, channel, address)

    return _attempt(db, username, address, channel, "auth.login", check)


def _check_credentials(
    session, user, password, totp, channel, address, *, changing: bool = False
) -> Principal:
    generic = AuthenticationError("invalid username or password", field="password")
    if user is None or user.role not in {r.value for r in PASSWORD_ROLES}:
        _verify_hash(None, password or "")
        raise generic
    if not _verify_hash(user.password_hash, password or ""):
        raise generic
    if not user.is_active:
        raise AuthenticationError("account disabled", field="username")
    if mfa_required(user.role) or user.totp_secret:
        if not user.totp_secret:
            raise AuthenticationError(
                "TOTP enrolment required: ask an administrator for a reset", field="totp"
            )
        if not totp:
            raise AuthenticationError("one-time code (TOTP) required", field="totp")
        if not verify_totp(user, totp, secret=_totp_of(session, user)):
            raise AuthenticationError("invalid or already used one-time code", field="totp")
    if not changing and user.must_change_password:
        raise PasswordChangeRequired(
            "password change required: set a new password first (crms passwd, or POST /api/v1/auth/password)",
            field="password",
        )
    if not changing and user.approval_pending:
        raise AuthenticationError("account awaiting a second administrator's approval", field="username")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    return principal_for(user, channel=channel, address=address)


def change_password(
    db,
    username: str,
    password: str,
    new_password: str,
    *,
    totp: str | None = None,
    address: str | None = None,
    channel: str = "api",
) -> Principal:
    """Change your own password: the current one (and TOTP where enrolled) checked like a login (rate
    limited, audited as ``user.password``), then the password rules; works when a change is required. Every
    token and session of the account is revoked (log in again with the new password)."""
    check_password_rules(new_password, username=username)

    def check(session, user):
        principal = _check_credentials(session, user, password, totp, channel, address, changing=True)
        if hmac.compare_digest(password.encode(), new_password.encode()):
            raise ValidationError("the new password must differ from the current one", field="new_password")
        check_password_rules(new_password, username=user.username, full_name=user.full_name)
        user.password_hash = hash_password(new_password)
        user.must_change_password = False
        user.password_changed_at = user.updated_at = utcnow()
        revoke_all_credentials(session, user)
        return principal

    return _attempt(db, username, address, channel, "user.password", check)


def activate(
    db,
    username: str,
    code: str,
    new_password: str,
    *,
    address: str | None = None,
    channel: str = "api",
) -> dict:
    """The user turns the one-time enrolment code of a new or reset account into a password (rules
    checked); where the role needs TOTP, a new secret is issued to the user here (returned once as
    ``totp_secret`` and ``totp_uri``). Refused from the address of the administrator who set the account
    up (an administrator cannot log in as an account it has just set up). Rate limited and audited as
    ``user.activate``; an unknown name, a wrong code and an expired code get the same answer."""
    from crms.errors import PermissionDenied

    check_password_rules(new_password, username=username)
    digest = hashlib.sha256((code or "").strip().lower().encode()).hexdigest()

    def check(session, user):
        stored = user.enrolment_code_hash if user is not None else None
        ok = hmac.compare_digest(digest, stored or "0" * 64) and stored is not None
        if not ok or as_utc(user.enrolment_expires_at) <= utcnow() or not user.is_active:
            raise AuthenticationError("invalid or expired enrolment code", field="enrolment_code")
        if address is not None and address == user.set_up_address:
            raise PermissionDenied(
                "the account must be activated by its user, not from the address of the administrator "
                "who set it up",
                field="address",
            )
        check_password_rules(new_password, username=user.username, full_name=user.full_name)
        user.password_hash = hash_password(new_password)
        user.enrolment_code_hash = None
        user.enrolment_expires_at = None
        user.must_change_password = False
        user.password_changed_at = user.updated_at = utcnow()
        revoke_all_credentials(session, user)
        out: dict = {"username": user.username, "approval_pending": bool(user.approval_pending)}
        if mfa_required(user.role):
            secret = _new_totp(session, user)
            out.update(totp_secret=secret, totp_uri=totp_uri(user))
        return out

    return _attempt(db, username, address, channel, "user.activate", check)


def login_sms(db, phone: str, pin: str) -> Principal:
    """SMS officers: registered phone number + PIN; same lockout and audit as passwords."""
    from crms.access.ratelimit import check_login_rate, login_succeeded

    try:
        phone = _normalise_phone(phone)
    except ValidationError:
        pass
    error: CrmsError | None = None
    result: Principal | None = None
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.phone == phone))
        who = principal_for(user, channel="sms", address=phone) if user else _anonymous(phone, "sms", phone)
        try:
            check_login_rate(session, f"sms:{phone}", None)
            generic = AuthenticationError("unknown phone or wrong PIN", field="pin")
            if user is None or user.pin_hash is None or user.role != Role.SMS_OFFICER:
                _verify_hash(None, pin or "")
                raise generic
            if not _verify_hash(user.pin_hash, pin or ""):
                raise generic
            if not user.is_active:
                raise AuthenticationError("account disabled", field="pin")
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = utcnow()
            result = principal_for(user, channel="sms", address=phone)
            login_succeeded(session, f"sms:{phone}", None)
        except RateLimited as exc:
            error = exc
        except AuthenticationError as exc:
            error = exc
            _note_failure(user)
        if error is not None:
            audit.record(session, who, "auth.sms", outcome="refused", detail=error.message)
        else:
            audit.record(session, result, "auth.sms", target_type="user", target_id=result.user_id)
    if error is not None:
        raise error
    return result


# --------------------------------------------------------------------------------------------- preferences

LANGUAGES = ("en", "ur")


def set_language(session: Session, principal: Principal, code: str) -> User:
    """The language of the caller's own pages ('en' or 'ur'), kept on the account and used at each sign-in.
    Any signed-in user may set their own; audited."""
    if principal.user_id is None:
        raise ValidationError("only a signed-in user has a language setting", field="user")
    if code not in LANGUAGES:
        raise ValidationError(f"language must be one of {', '.join(LANGUAGES)}", field="language")
    user = _get(session, principal.user_id)
    if user.language != code:
        user.language = code
        user.updated_at = utcnow()
        audit.record(session, principal, "user.language", target_type="user", target_id=user.id,
                     query={"language": code})  # fmt: skip
    return user


def language_of(session: Session, principal: Principal) -> str | None:
    """The caller's chosen language, or None when they have not chosen one (the browser's applies)."""
    if principal.user_id is None:
        return None
    return session.scalar(select(User.language).where(User.id == principal.user_id))
