"""User accounts: creation, administration, and authentication (password + TOTP, phone + PIN for SMS
officers), with lockout after repeated failures.

Low-level helpers (``create_user``, ``hash_password``) take only a session; the administration services
(``add_user``, ``list_users``, ``set_active``, ``set_role``, ``reset_mfa``) take the caller's principal, check
``user:admin`` and are audited. ``login``/``login_sms`` take the Database: a failure is recorded (counter,
lockout, audit entry) in its own committed transaction before the error is raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crms.access import audit
from crms.access.models import User
from crms.access.policy import PASSWORD_ROLES, Permission, Role, authorize, mfa_required, unit_contains
from crms.access.principal import Principal
from crms.errors import AuthenticationError, Conflict, CrmsError, NotFound, RateLimited, ValidationError
from crms.timeutil import utcnow

# Argon2id with the OWASP Password Storage Cheat Sheet parameters (19 MiB, 2 passes, 1 lane): well under
# 0.1 s here, cheap enough for logins on a 2-core server, costly for an attacker with the hashes.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_dummy_hash: list[str] = []

TOTP_STEP = 30
MIN_PASSWORD = 10
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
UNIT_RE = re.compile(r"^[A-Z]{2}(/[A-Z0-9][A-Z0-9_.-]{0,47}){0,5}$")
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


def _check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"password must be at least {MIN_PASSWORD} characters", field="password")
    if len(password) > 256:
        raise ValidationError("password must be at most 256 characters", field="password")


def normalise_unit(unit: str) -> str:
    value = (unit or "").strip().strip("/").upper()
    if not UNIT_RE.match(value):
        raise ValidationError(
            "unit must be a path like BA or BA/QTA/QUETTA/QUETTA-CANTT (province first)", field="unit"
        )
    return value


def _normalise_phone(phone: str) -> str:
    import phonenumbers

    try:
        num = phonenumbers.parse(phone, "PK")
    except phonenumbers.NumberParseException:
        raise ValidationError(f"not a phone number: {phone!r}", field="phone") from None
    if not phonenumbers.is_valid_number(num):
        raise ValidationError(f"not a valid phone number: {phone!r}", field="phone")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def create_user(
    session: Session,
    username: str,
    role: str,
    *,
    unit: str = "BA",
    full_name: str = "",
    password: str | None = None,
    phone: str | None = None,
    pin: str | None = None,
    totp: bool | None = None,
) -> User:
    """Create an account (no permission check: callers are ``add_user``, the bootstrap and fixtures).
    ``totp=None`` enrols TOTP when the role requires it; the secret is then on ``user.totp_secret``
    (show it once, e.g. as :func:`totp_uri`)."""
    try:
        role = Role(role).value
    except ValueError:
        raise ValidationError(f"unknown role '{role}'", field="role") from None
    if role == Role.SYSTEM:
        raise ValidationError("the system role cannot be given to an account", field="role")
    if not username or not USERNAME_RE.match(username):
        raise ValidationError(
            "username must be 1-64 characters: letters, digits, '.', '_' or '-'", field="username"
        )
    if len(full_name) > 200:
        raise ValidationError("full name must be at most 200 characters", field="full_name")
    unit = normalise_unit(unit)
    if password is not None:
        _check_password_strength(password)
    if phone is not None:
        phone = _normalise_phone(phone)
    if pin is not None and not PIN_RE.match(pin):
        raise ValidationError("PIN must be 4-8 digits", field="pin")
    if role == Role.SMS_OFFICER and (phone is None or pin is None):
        raise ValidationError(
            "an SMS officer needs a phone number and a PIN", field="phone" if not phone else "pin"
        )
    if session.scalar(select(User).where(func.lower(User.username) == username.lower())):
        raise Conflict(f"user '{username}' already exists", field="username")
    if phone and session.scalar(select(User).where(User.phone == phone)):
        raise Conflict(f"phone {phone} is registered to another user", field="phone")
    enrol = mfa_required(role) if totp is None else totp
    user = User(
        username=username,
        role=role,
        unit=unit,
        full_name=full_name,
        phone=phone,
        password_hash=hash_password(password) if password else None,
        pin_hash=hash_password(pin) if pin else None,
        totp_secret=pyotp.random_base32() if enrol else None,
        failed_logins=0,
        is_active=True,
    )
    session.add(user)
    session.flush()
    return user


def _note_failure(user: User | None) -> None:
    """Count a failed login on the account, for its administrators to see. It never locks the account:
    guessing is slowed down per account name and client address together (crms.access.ratelimit), so that
    nobody can lock an owner out by failing on purpose."""
    if user is not None:
        user.failed_logins = (user.failed_logins or 0) + 1


def totp_uri(user: User) -> str | None:
    if not user.totp_secret:
        return None
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name="CRMS Balochistan")


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
        "locked_until": user.locked_until.isoformat() if user.locked_until else None,
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
        "created_at": user.created_at.isoformat() if user.created_at else None,
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
        if isinstance(user_id, int) or str(user_id).isdigit()
        else session.scalar(select(User).where(User.username == str(user_id)))
    )
    if user is None:
        raise NotFound(f"no user {user_id!r}", field="user")
    return user


def _authorize_admin(principal: Principal, unit: str | None) -> None:
    authorize(principal, Permission.USER_ADMIN)
    if unit is not None and not unit_contains(principal.unit, unit):
        from crms.errors import PermissionDenied

        raise PermissionDenied(f"unit {unit} is outside your jurisdiction ({principal.unit})")


def get_user(session: Session, principal: Principal, user_id: int | str) -> User:
    user = _get(session, user_id)
    _authorize_admin(principal, user.unit)
    return user


def add_user(session: Session, principal: Principal, username: str, role: str, **kw) -> User:
    _authorize_admin(principal, normalise_unit(kw.get("unit", "BA")))
    user = create_user(session, username, role, **kw)
    audit.record(
        session,
        principal,
        "user.create",
        target_type="user",
        target_id=user.id,
        query={"username": username, "role": user.role, "unit": user.unit},
    )
    return user


def list_users(session: Session, principal: Principal, *, include_inactive: bool = True) -> list[User]:
    authorize(principal, Permission.USER_ADMIN)
    stmt = select(User).order_by(User.username)
    if not include_inactive:
        stmt = stmt.where(User.is_active.is_(True))
    users = [u for u in session.scalars(stmt) if unit_contains(principal.unit, u.unit)]
    audit.record(session, principal, "user.list", query={"count": len(users)})
    return users


def set_active(session: Session, principal: Principal, user_id: int | str, active: bool) -> User:
    user = _get(session, user_id)
    _authorize_admin(principal, user.unit)
    if not active and user.id == principal.user_id:
        raise ValidationError("you cannot disable your own account", field="user")
    user.is_active = active
    user.updated_at = utcnow()
    if not active:
        revoke_all_credentials(session, user)
    audit.record(
        session, principal, "user.enable" if active else "user.disable", target_type="user", target_id=user.id
    )
    return user


def set_role(
    session: Session, principal: Principal, user_id: int | str, role: str, unit: str | None = None
) -> User:
    user = _get(session, user_id)
    _authorize_admin(principal, user.unit)
    try:
        role = Role(role).value
    except ValueError:
        raise ValidationError(f"unknown role '{role}'", field="role") from None
    if role == Role.SYSTEM:
        raise ValidationError("the system role cannot be given to an account", field="role")
    if user.id == principal.user_id:
        raise ValidationError("you cannot change your own role or unit", field="user")
    new_unit = normalise_unit(unit) if unit is not None else user.unit
    _authorize_admin(principal, new_unit)
    old = {"role": user.role, "unit": user.unit}
    user.role, user.unit = role, new_unit
    if mfa_required(role) and not user.totp_secret:
        user.totp_secret = pyotp.random_base32()
        user.totp_last_step = None
    user.updated_at = utcnow()
    revoke_all_credentials(session, user)  # tokens and sessions carried the old role
    audit.record(
        session,
        principal,
        "user.role",
        target_type="user",
        target_id=user.id,
        query={"from": old, "to": {"role": role, "unit": new_unit}},
    )
    return user


def reset_mfa(session: Session, principal: Principal, user_id: int | str) -> User:
    """Issue a new TOTP secret (old codes stop working); the new secret is on ``user.totp_secret``."""
    user = _get(session, user_id)
    _authorize_admin(principal, user.unit)
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    user.failed_logins = 0
    user.locked_until = None
    user.updated_at = utcnow()
    revoke_all_credentials(session, user)
    audit.record(session, principal, "user.reset_mfa", target_type="user", target_id=user.id)
    return user


def revoke_all_credentials(session: Session, user: User) -> None:
    from sqlalchemy import update

    from crms.access.models import ApiToken, WebSession

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


def bootstrap_administrator(db, username: str, *, address: str | None = None, **kw) -> User:
    """Create the first administrator without a login (the console bootstrap): allowed only while the
    database has no user at all, checked in the creating transaction. Audited as ``user.bootstrap`` under the
    system principal with the console's address."""
    import dataclasses

    from crms.access.principal import system_principal
    from crms.errors import PermissionDenied

    role = kw.pop("role", Role.ADMINISTRATOR.value)
    if role != Role.ADMINISTRATOR:
        raise PermissionDenied("the first user must be an administrator", field="role")
    with db.transaction() as session:
        if count_users(session) != 0:
            raise PermissionDenied("users exist already: log in as an administrator", field="user")
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


@dataclass
class LoginResult:
    principal: Principal
    user_id: int


def verify_totp(user: User, code: str | None, *, at=None) -> bool:
    """Accept a code of the current step or one step either side, once: a step at or before the last
    accepted one is a replay and is refused. Updates ``user.totp_last_step`` on success."""
    if not user.totp_secret or not code:
        return False
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(user.totp_secret, interval=TOTP_STEP)
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
    answer at the same cost (Argon2 runs against a dummy hash for an unknown name)."""
    from crms.access.ratelimit import check_login_rate, login_succeeded

    error: CrmsError | None = None
    result: Principal | None = None
    with db.transaction() as session:
        who = _anonymous(username, channel, address)
        user = session.scalar(select(User).where(User.username == (username or "")))
        if user is not None:
            who = principal_for(user, channel=channel, address=address)
        try:
            check_login_rate(session, username or "", address)
            result = _check_credentials(session, user, password, totp, channel, address)
            login_succeeded(session, username or "", address)
        except RateLimited as exc:
            error = exc
        except AuthenticationError as exc:
            error = exc
            _note_failure(user)
        if error is not None:
            audit.record(
                session,
                who,
                "auth.login",
                outcome="refused",
                detail=error.message,
                target_type="user",
                target_id=user.id if user else None,
            )
        else:
            audit.record(session, result, "auth.login", target_type="user", target_id=result.user_id)
    if error is not None:
        raise error
    return result


def _check_credentials(session, user, password, totp, channel, address) -> Principal:
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
                "TOTP enrolment required: ask an administrator (reset-mfa)", field="totp"
            )
        if not totp:
            raise AuthenticationError("one-time code (TOTP) required", field="totp")
        if not verify_totp(user, totp):
            raise AuthenticationError("invalid or already used one-time code", field="totp")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    return principal_for(user, channel=channel, address=address)


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
            if user is None or user.pin_hash is None:
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
