"""Who may do what: roles, permissions and jurisdiction, declared in this one place and enforced by the
services (so the API, web pages, SMS and CLI cannot drift apart)."""

from __future__ import annotations

from enum import StrEnum

from crms.access.principal import Principal
from crms.errors import PermissionDenied


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    OPERATOR = "cro_operator"
    EXAMINER = "fingerprint_examiner"
    INVESTIGATOR = "investigating_officer"
    SHO = "sho"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    SMS_OFFICER = "sms_officer"
    SYSTEM = "system"  # internal jobs (migrations, demo loader); never a login


class Permission(StrEnum):
    PERSON_READ = "person:read"
    PERSON_WRITE = "person:write"
    PERSON_MERGE = "person:merge"
    CASE_READ = "case:read"
    CASE_WRITE = "case:write"
    STATUS_WRITE = "status:write"  # case and person-in-case statuses, arrests, convictions
    SEARCH_CNIC = "search:cnic"
    SEARCH_NAME = "search:name"
    SEARCH_BIOMETRIC = "search:biometric"
    BIOMETRIC_ENROL = "biometric:enrol"
    BIOMETRIC_CONFIRM = "biometric:confirm"
    IMPORT = "records:import"
    EXPORT = "records:export"
    REFERENCE_EDIT = "reference:edit"
    USER_ADMIN = "user:admin"
    AUDIT_READ = "audit:read"  # query the audit trail
    AUDIT_VERIFY = "audit:verify"  # check the hash chain (no record contents)
    SMS_QUERY = "sms:query"
    PERSON_BROWSE = "person:browse"  # page through the whole register (with a reason)
    FLAG_CONFIRM = "flag:confirm"  # confirm a flag raised on a person of your district from outside it


P = Permission
_READ = {P.PERSON_READ, P.CASE_READ, P.SEARCH_CNIC, P.SEARCH_NAME}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Administrators run the system (accounts, reference data) but do not browse records by name or
    # read the audit trail of their own actions (separation of duties, CJIS 5.5.2.2).
    Role.ADMINISTRATOR: frozenset(
        {P.USER_ADMIN, P.REFERENCE_EDIT, P.PERSON_READ, P.CASE_READ, P.SEARCH_CNIC, P.AUDIT_VERIFY}
    ),
    Role.OPERATOR: frozenset(
        _READ
        | {P.PERSON_WRITE, P.CASE_WRITE, P.STATUS_WRITE, P.BIOMETRIC_ENROL, P.IMPORT, P.SEARCH_BIOMETRIC}
    ),
    Role.EXAMINER: frozenset(_READ | {P.SEARCH_BIOMETRIC, P.BIOMETRIC_ENROL, P.BIOMETRIC_CONFIRM}),
    Role.INVESTIGATOR: frozenset(_READ | {P.CASE_WRITE, P.STATUS_WRITE, P.SEARCH_BIOMETRIC, P.PERSON_WRITE}),
    Role.SHO: frozenset(_READ | {P.PERSON_WRITE, P.CASE_WRITE, P.STATUS_WRITE, P.SEARCH_BIOMETRIC, P.EXPORT}),
    Role.SUPERVISOR: frozenset(
        _READ | {P.PERSON_WRITE, P.PERSON_MERGE, P.CASE_WRITE, P.STATUS_WRITE, P.SEARCH_BIOMETRIC, P.EXPORT}
    ),
    Role.AUDITOR: frozenset({P.AUDIT_READ, P.AUDIT_VERIFY}),
    Role.SMS_OFFICER: frozenset({P.SMS_QUERY, P.SEARCH_CNIC}),
    Role.SYSTEM: frozenset(Permission),
}
# Paging through the register (GET /persons without a CNIC) is for the roles that keep it, not for every
# reader: administrators, examiners and investigators look persons up, they do not browse.
for _role in (Role.OPERATOR, Role.SHO, Role.SUPERVISOR):
    ROLE_PERMISSIONS[_role] = ROLE_PERMISSIONS[_role] | {P.PERSON_BROWSE}
# A wanted flag raised from outside a person's home district waits for an SHO or supervisor of that district.
for _role in (Role.SHO, Role.SUPERVISOR):
    ROLE_PERMISSIONS[_role] = ROLE_PERMISSIONS[_role] | {P.FLAG_CONFIRM}

# TOTP is mandatory for these roles (optional for the others).
MFA_REQUIRED_ROLES = frozenset({Role.ADMINISTRATOR, Role.EXAMINER})
# Roles that may log in with a password (web, API, CLI); SMS officers use phone + PIN; SYSTEM never logs in.
PASSWORD_ROLES = frozenset(Role) - {Role.SYSTEM, Role.SMS_OFFICER}

# Writes are limited to the user's unit and below; these permissions are writes.
WRITE_PERMISSIONS = frozenset(
    {P.PERSON_WRITE, P.PERSON_MERGE, P.CASE_WRITE, P.STATUS_WRITE, P.BIOMETRIC_ENROL, P.IMPORT}
)


def unit_contains(outer: str, inner: str | None) -> bool:
    """Unit codes are paths, province first: 'BA', 'BA/QTA', 'BA/QTA/QUETTA', 'BA/QTA/QUETTA/CANTT'
    (province ▸ division/range ▸ district ▸ [sub-division ▸] police station). Case-insensitive."""
    if inner is None:
        return True
    outer = outer.strip("/").upper()
    inner = inner.strip("/").upper()
    return inner == outer or inner.startswith(outer + "/")


def mfa_required(role: str) -> bool:
    return role in {r.value for r in MFA_REQUIRED_ROLES}


def role_permissions(role: str) -> frozenset[Permission]:
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()


def check_scopes(role: str, scopes: list[str] | None) -> list[str] | None:
    """Validate API-token scopes: each must be a permission the role holds (a token never widens a role)."""
    from crms.errors import ValidationError

    if scopes is None:
        return None
    allowed = {p.value for p in role_permissions(role)}
    bad = [s for s in scopes if s not in allowed]
    if bad:
        raise ValidationError(f"scopes not held by role '{role}': {', '.join(bad)}", field="scopes")
    return sorted(set(scopes))


def has_permission(principal: Principal, permission: Permission) -> bool:
    if principal.scopes is not None and permission.value not in principal.scopes:
        return False
    return permission in role_permissions(principal.role)


def authorize(principal: Principal, permission: Permission, *, unit: str | None = None) -> None:
    """Raise PermissionDenied unless the principal holds ``permission`` (and, for writes, the record's
    ``unit`` lies within the principal's unit)."""
    if not has_permission(principal, permission):
        raise PermissionDenied(f"role '{principal.role}' may not {permission.value}", kind="role")
    if permission in WRITE_PERMISSIONS and unit is not None and not unit_contains(principal.unit, unit):
        raise PermissionDenied(
            f"record of unit {unit} is outside your jurisdiction ({principal.unit})", kind="jurisdiction"
        )
