"""The authenticated caller of a service, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass

# The province this installation serves: the root of every unit path (crms.access.units).
PROVINCE = "BA"


@dataclass(frozen=True)
class Principal:
    user_id: int | None
    username: str
    role: str
    unit: str = PROVINCE  # jurisdiction unit path, see crms.access.policy.unit_contains
    channel: str = "api"  # api | web | cli | sms | system
    address: str | None = None  # IP address or phone number
    scopes: frozenset[str] | None = None  # API-token scopes; None = everything the role allows


def system_principal(channel: str = "system") -> Principal:
    """For internal jobs (demo loader, reference-data loader); never reachable from a login."""
    return Principal(user_id=None, username="system", role="system", unit=PROVINCE, channel=channel)
