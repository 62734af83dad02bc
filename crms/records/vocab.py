"""The records' vocabularies: the codes stored for case and person-in-case statuses, roles, flags, document
types, genders, parentage relations, scripts, address and body-mark kinds (labels for people:
:mod:`crms.records.labels`)."""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    REGISTERED = "registered"
    UNDER_INVESTIGATION = "under_investigation"
    CHALLAN_COMPLETE = "challan_complete"
    CHALLAN_INTERIM = "challan_interim"
    CHALLAN_512 = "challan_512"  # challan u/s 512 CrPC (accused absconding)
    CANCELLED = "cancelled"
    UNTRACED = "untraced"
    UNDER_TRIAL = "under_trial"
    CONVICTED = "convicted"
    ACQUITTED = "acquitted"
    COMPROMISED = "compromised"


class PartyRole(StrEnum):
    ACCUSED = "accused"
    COMPLAINANT = "complainant"
    VICTIM = "victim"
    WITNESS = "witness"


class PartyStatus(StrEnum):
    NAMED = "named"
    ARRESTED = "arrested"
    ON_BAIL = "on_bail"
    ABSCONDER = "absconder"
    PROCLAIMED_OFFENDER_A = "proclaimed_offender_a"
    PROCLAIMED_OFFENDER_B = "proclaimed_offender_b"
    CONVICTED = "convicted"
    ACQUITTED = "acquitted"
    DISCHARGED = "discharged"


class DocumentType(StrEnum):
    CNIC = "CNIC"
    NICOP = "NICOP"
    POC = "POC"
    AFGHAN_POR = "AFGHAN_POR"
    AFGHAN_ACC = "AFGHAN_ACC"
    PASSPORT = "PASSPORT"
    OTHER = "OTHER"


class FlagKind(StrEnum):
    WANTED = "wanted"
    PROCLAIMED_OFFENDER = "proclaimed_offender"
    ABSCONDER = "absconder"


class Gender(StrEnum):
    M = "M"
    F = "F"
    X = "X"


class Relation(StrEnum):
    SO = "s/o"
    DO = "d/o"
    WO = "w/o"


class Script(StrEnum):
    LATIN = "latin"
    URDU = "urdu"


class AddressKind(StrEnum):
    PERMANENT = "permanent"
    PRESENT = "present"


class MarkKind(StrEnum):
    SCAR = "scar"
    MARK = "mark"
    TATTOO = "tattoo"
