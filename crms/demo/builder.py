"""The demo database (issue 4): synthetic offenders of Balochistan with cases, statuses, descriptions,
fingerprints and mugshots, and one demo user per role.

Everything goes through the real services (person registration, FIRs, links, status changes, arrests,
convictions, users), so the demo data obeys the same rules and leaves the same audit trail as real work.
Deterministic from the seed: person ``i`` of seed ``s`` is always the same person. Idempotent: a person whose
identity document is already recorded is skipped (with their cases), a user that exists is kept (its password
is not changed or shown again), stored images are reused.

Fingerprints: ten synthetic fingers per person (crms.fingerprint.synthesis, one plain impression each at
500 ppi, as worn and noisy as ``DEMO_DIFFICULTY`` says), captured through the enrolment service
(crms.biometrics.enrolment): images encrypted in the biometric store, one ``fingerprints`` row per finger,
then their templates. The work goes person by person (the next person's images are drawn while this
person's templates are extracted), so the first persons are fully enrolled within a minute and the rest
follow at about ten seconds each. That is minutes of CPU per hundred persons, so it is a stage of its own
(``stage="fingerprints"``) that scripts/run-demo.sh runs in the background while the server is already up;
it stops cleanly when asked (``stop()``) and resumes where it stopped.
Mugshots are ``person_photos`` rows (front view) added through crms.faces.photos, images encrypted.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crms.access.principal import PROVINCE
from crms.demo.names import draw_name, synthetic_cnic
from crms.errors import Conflict

FINGERS = [
    "right_thumb",
    "right_index",
    "right_middle",
    "right_ring",
    "right_little",
    "left_thumb",
    "left_index",
    "left_middle",
    "left_ring",
    "left_little",
]

# Offence patterns as written on FIRs (parsed against the statute table by the case service).
OFFENCES = [
    ("392/411/34 PPC", "robbery at gunpoint on the highway; snatched mobile phones and cash"),
    ("302/34 PPC", "murder over a land dispute; fired with a Kalashnikov"),
    ("324/34 PPC", "attempted murder; fired at the complainant's vehicle"),
    ("365-A PPC", "kidnapping for ransom; victim kept in the mountains"),
    ("379 PPC", "theft of a motorcycle from the bazaar"),
    ("457/380 PPC", "house-breaking by night and theft"),
    ("395/412 PPC", "dacoity by an armed gang on a passenger coach"),
    ("489-F PPC", "dishonoured cheque given for a vehicle purchase"),
    ("420/468/471 PPC", "fraud with forged land documents"),
    ("9(c) CNSA", "recovery of charas from a vehicle at a check post"),
    ("9(c) CNSA", "recovery of heroin hidden in a fuel tank"),
    ("13-20-65 Arms Ordinance", "unlicensed pistol with ammunition recovered"),
    ("3/4 PO", "liquor recovered during a raid"),
    ("14 Foreigners Act", "foreign national without valid documents"),
    ("7 ATA", "terrorism; attack on a Levies post"),
    ("148/149/324 PPC", "rioting armed with deadly weapons; tribal clash"),
    ("337-A(i)/34 PPC", "causing shajjah-i-khafifah in a quarrel"),
    ("506/34 PPC", "criminal intimidation with threats to kill"),
]

GANGS = ["Zarghoon gang", "Coastal highway gang", "Bolan pass gang", "Chaman border gang", None, None, None]
BUILDS = ["slim", "medium", "heavy", "athletic"]
COMPLEXIONS = ["fair", "wheatish", "brown", "dark"]
EYES = ["brown", "dark brown", "black", "hazel", "green"]
HAIR = ["black", "black, short", "black, long", "grey", "brown, curly", "henna-dyed"]
BEARDS = ["full black beard", "trimmed beard", "clean shaven", "grey beard", "moustache only"]
LANGUAGES = {
    "baloch": ["Balochi", "Urdu"],
    "brahui": ["Brahui", "Balochi", "Urdu"],
    "pashtun": ["Pashto", "Urdu"],
    "hazara": ["Hazaragi", "Dari", "Urdu"],
    "settler": ["Punjabi", "Urdu", "Sindhi"],
}
MARKS = [
    ("scar", "left cheek", "old knife cut, 3 cm"),
    ("scar", "forehead", "small round scar above the right eyebrow"),
    ("scar", "right forearm", "burn scar"),
    ("mark", "neck", "black mole"),
    ("mark", "right hand", "missing tip of the little finger"),
    ("tattoo", "left forearm", "name 'Shabana' in Urdu script"),
    ("tattoo", "right hand", "dots between thumb and index finger"),
    ("scar", "abdomen", "bullet wound, healed"),
]
ROLES = [
    ("administrator", "admin"),
    ("cro_operator", "operator"),
    ("fingerprint_examiner", "examiner"),
    ("investigating_officer", "investigator"),
    ("sho", "sho"),
    ("supervisor", "supervisor"),
    ("auditor", "auditor"),
    ("sms_officer", "sms"),
]


@dataclass
class DemoReport:
    people: int = 0
    created: int = 0
    skipped: int = 0
    cases: int = 0
    fingerprints: int = 0
    mugshots: int = 0
    templates: int = 0
    fingerprint_counts: dict[str, int] = field(default_factory=dict)
    persons_enrolled: int = 0  # persons of this run whose ten fingers are captured and enrolled (or tried)
    persons_total: int = 0  # demo persons the fingerprint stage works through
    stopped: bool = False  # the fingerprint stage was asked to stop before the end
    users: list[dict] = field(default_factory=list)
    flags: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# ------------------------------------------------------------------------------------------ one person


@dataclass
class CasePlan:
    station: Any
    fir_number: int
    registered_on: date
    sections: str
    place: str
    mo: str
    gang: str | None
    path: list[str]  # case statuses after 'registered'
    party_path: list[str]  # person-in-case statuses after 'named'


@dataclass
class PersonPlan:
    index: int
    data: dict
    doc_key: tuple[str, str]
    cases: list[CasePlan]
    community: str
    name_en: str


# (case path, party path) — legal sequences of crms.records.services_cases transitions.
UI, CC, UT = "under_investigation", "challan_complete", "under_trial"
STORIES = [
    ([UI], ["arrested"], 0.10),
    ([UI, CC, UT], ["arrested", "on_bail"], 0.16),
    ([UI, CC, UT, "convicted"], ["arrested", "convicted"], 0.16),
    ([UI, CC, UT, "acquitted"], ["arrested", "on_bail", "acquitted"], 0.10),
    (["challan_512"], ["absconder"], 0.08),
    (["challan_512"], ["absconder", "proclaimed_offender_a"], 0.07),
    ([UI, "challan_512"], ["absconder", "proclaimed_offender_b"], 0.05),
    # absconded, later arrested and acquitted: flags raised, then cleared (history keeps them)
    (["challan_512", "under_trial", "acquitted"], ["absconder", "arrested", "on_bail", "acquitted"], 0.06),
    ([UI, "untraced"], [], 0.05),
    (["cancelled"], ["discharged"], 0.04),
    ([UI, CC, UT, "compromised"], ["arrested", "on_bail"], 0.04),
    ([UI, "challan_interim"], ["on_bail"], 0.05),
    ([], [], 0.04),
]  # fmt: skip


def plan_person(seed: int, index: int, stations: list, today: date) -> PersonPlan:
    """Person ``index`` of ``seed``: the same every time."""
    rng = random.Random(f"crms-demo/{seed}/{index}")
    n = draw_name(rng)
    station = rng.choice(stations)
    age = rng.randint(18, 65)
    born = date(today.year - age, rng.randint(1, 12), rng.randint(1, 28))
    exact_dob = rng.random() < 0.7
    afghan = n.community == "pashtun" and rng.random() < 0.06
    if afghan:
        doc = {
            "doc_type": "AFGHAN_POR",
            "number": f"PK{rng.randrange(10**8, 10**9)}",
            "issuing_country": "PK",
        }
        nationality = "AF"
    else:
        province = "5" if rng.random() < 0.92 else rng.choice("1346")
        number = synthetic_cnic(rng, n.gender, province=province, serial=(seed * 1_000_003 + index) % 10**7)
        doc = {"doc_type": "CNIC", "number": f"{number[:5]}-{number[5:12]}-{number[12]}"}
        nationality = "PK"
    languages = LANGUAGES[n.community]
    marks = [
        dict(zip(("kind", "body_location", "text"), m, strict=True))
        for m in rng.sample(MARKS, rng.randint(0, 2))
    ]
    observed = today - timedelta(days=rng.randint(30, 2000))
    phone = f"03{rng.randint(0, 4)}{rng.randint(0, 9)}{rng.randrange(10**6, 10**7)}"
    alias = n.given_en.split()[-1] + " " + rng.choice(["Lala", "Baba", "Kaka", "Mama"])
    data = {
        "given_name_en": n.given_en,
        "family_name_en": n.caste_en if rng.random() < 0.5 else None,
        "given_name_ur": n.given_ur,
        "family_name_ur": None,
        "parentage_relation": n.relation,
        "parentage_name_en": n.father_en,
        "parentage_name_ur": n.father_ur,
        "caste": n.caste_en,
        "date_of_birth": born.isoformat() if exact_dob else None,
        "birth_year": None if exact_dob else born.year,
        "birth_year_estimated": not exact_dob,
        "gender": n.gender,
        "nationality": nationality,
        "documents": [doc],
        "addresses": [
            {
                "kind": "permanent",
                "district": station.district_code,
                "police_station": station.code,
                "text": f"{rng.choice(['Killi', 'Mohallah', 'Ward'])} {rng.randint(1, 40)}, near the mosque",
            }
        ],
        "phones": [phone] if rng.random() < 0.6 else [],
        "aliases": [{"name": alias, "script": "latin"}] if rng.random() < 0.3 else [],
        "descriptions": [
            {
                "observed_on": observed.isoformat(),
                "height_cm": rng.randint(150, 190) if n.gender == "M" else rng.randint(145, 175),
                "build": rng.choice(BUILDS),
                "complexion": rng.choice(COMPLEXIONS),
                "eye_colour": rng.choice(EYES),
                "hair": rng.choice(HAIR),
                "beard": rng.choice(BEARDS) if n.gender == "M" else None,
                "languages": languages,
                "marks": marks,
            }
        ],
        "unit": station.unit_path,
    }  # fmt: skip
    cases = []
    for j in range(rng.choices([1, 2, 3], weights=[0.6, 0.3, 0.1])[0]):
        case_station = station if rng.random() < 0.7 else rng.choice(stations)
        registered = today - timedelta(days=rng.randint(60, 3650))
        if case_station.valid_from and registered <= case_station.valid_from:  # a newer station
            registered = min(case_station.valid_from + timedelta(days=rng.randint(1, 60)), today)
        path, party_path, _ = rng.choices(STORIES, weights=[s[2] for s in STORIES])[0]
        sections, mo = rng.choice(OFFENCES)
        cases.append(
            CasePlan(
                station=case_station,
                fir_number=100_000 + (seed % 100) * 5000 + (index * 3 + j) % 5000,
                registered_on=registered,
                sections=sections,
                place=f"{rng.choice(['near', 'at', 'on the road to'])} {case_station.name_en}",
                mo=mo,
                gang=rng.choice(GANGS),
                path=path,
                party_path=party_path,
            )
        )
    return PersonPlan(index, data, (doc["doc_type"], doc["number"]), cases, n.community, n.given_en)


# ------------------------------------------------------------------------------------------ writing


def _doc_exists(session: Session, doc_type: str, number: str) -> bool:
    from crms.records.models import IdentityDocument
    from crms.records.services import normalise_document

    value, _ = normalise_document(doc_type, number)
    return (
        session.scalar(
            select(IdentityDocument.id).where(
                IdentityDocument.doc_type == doc_type, IdentityDocument.number == value
            )
        )
        is not None
    )


def _write_person(
    session: Session, principal, plan: PersonPlan, today: date, report: DemoReport
) -> int | None:
    from crms.errors import Conflict
    from crms.records import services, services_cases

    if _doc_exists(session, *plan.doc_key):
        report.skipped += 1
        return None
    person = services.register_person(session, principal, plan.data).person
    report.created += 1
    for c in plan.cases:
        try:
            with session.begin_nested():
                case = services_cases.add_case(
                    session,
                    principal,
                    {
                        "police_station": c.station.code,
                        "fir_number": c.fir_number,
                        "registered_on": c.registered_on.isoformat(),
                        "year": c.registered_on.year,
                        "occurred_on": (c.registered_on - timedelta(days=1)).isoformat(),
                        "place": c.place,
                        "sections": c.sections,
                    },
                )
                link = services_cases.link_person(
                    session,
                    principal,
                    case.id,
                    {
                        "person_id": person.id,
                        "role": "accused",
                        "effective_on": c.registered_on.isoformat(),  # named in the FIR
                        "modus_operandi": c.mo,
                        "gang": c.gang,
                    },
                )
                _play_story(session, principal, case, link, c, today)
        except Conflict:  # an FIR with this key already exists (entered by someone else): leave it
            report.notes.append(f"FIR {c.fir_number}/{c.registered_on.year} {c.station.code} exists; skipped")
            continue
        report.cases += 1
        report.statuses[c.path[-1] if c.path else "registered"] = (
            report.statuses.get(c.path[-1] if c.path else "registered", 0) + 1
        )
    return person.id


def _play_story(session, principal, case, link, c: CasePlan, today: date) -> None:
    from crms.records import services_cases

    step = 0

    def when() -> str:
        nonlocal step
        step += 1
        return min(c.registered_on + timedelta(days=20 * step), today).isoformat()

    party = list(c.party_path)
    # the accused's first moves happen during investigation, the verdict with the case's verdict
    verdict = {"convicted", "acquitted", "discharged"}
    early = [s for s in party if s not in verdict]
    late = [s for s in party if s in verdict]
    for s in early:
        on = when()
        if s != "arrested":  # an arrest is set by recording it
            services_cases.change_party_status(session, principal, link.id, {"status": s, "effective_on": on})
        else:
            services_cases.record_arrest(
                session,
                principal,
                link.id,
                {"arrested_on": on, "place": f"PS {c.station.name_en}", "arrested_by": "SHO and party"},
            )
    for s in c.path:
        services_cases.change_case_status(session, principal, case.id, {"status": s, "effective_on": when()})
    for s in late:
        on = when()
        if s == "convicted":
            services_cases.record_conviction(
                session,
                principal,
                link.id,
                {
                    "court": f"Sessions Court {c.station.district_code.title()}",
                    "convicted_on": on,
                    "sentence": random.Random(c.fir_number).choice(
                        ["7 years RI and fine Rs. 50,000", "life imprisonment", "3 years RI", "10 years RI"]
                    ),
                },
            )
            if link.status != "convicted":
                services_cases.change_party_status(
                    session, principal, link.id, {"status": s, "effective_on": on}
                )
        else:
            services_cases.change_party_status(session, principal, link.id, {"status": s, "effective_on": on})


# ------------------------------------------------------------------------------------------ users


def refuse_real_database(session: Session) -> None:
    """The demo loader runs without a login (it is how a fresh install is set up), so it may only touch a
    database that holds no real accounts: once any user other than the demo users exists, it refuses, and
    synthetic offenders can never be mixed into a live register."""
    from crms.access.models import User
    from crms.errors import PermissionDenied

    demo_names = {f"demo_{name}" for _role, name in ROLES}
    real = session.scalars(select(User.username).where(User.username.not_in(demo_names)).limit(3)).all()
    if real:
        raise PermissionDenied(
            "this database has real user accounts (" + ", ".join(real) + "): the demo loader only fills "
            "a new database; point CRMS_DATA_DIR / CRMS_DATABASE_URL at an empty one"
        )


def _password() -> str:
    return "Demo-" + secrets.token_urlsafe(12)


def ensure_users(session: Session, report: DemoReport) -> None:
    """One user per role, unit BA (the province); a new user's password (and TOTP secret) is reported once."""
    from crms.access import audit
    from crms.access.models import User
    from crms.access.principal import system_principal
    from crms.access.users import create_user, totp_uri

    for i, (role, name) in enumerate(ROLES):
        username = f"demo_{name}"
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            report.users.append({"username": username, "role": role, "created": False})
            continue
        kw: dict[str, Any] = {"unit": PROVINCE, "full_name": f"Demo {name.title()}"}
        entry: dict[str, Any] = {"username": username, "role": role, "created": True}
        if role == "sms_officer":
            kw.update(phone=f"+92300555{1000 + i:04d}", pin=f"{secrets.randbelow(10**6):06d}")
            entry.update(phone=kw["phone"], pin=kw["pin"])
        else:
            kw["password"] = entry["password"] = _password()
        # The documented bootstrap path (crms.access.users.create_user); the printed passwords are one-time:
        # the first login must set a new one (crms passwd).
        user = create_user(session, username, role, must_change_password=True, **kw)
        if user.new_totp_secret:
            entry["totp_secret"] = user.new_totp_secret
            entry["totp_uri"] = totp_uri(user)
        audit.record(
            session, system_principal("cli"), "user.create", target_type="user", target_id=user.id,
            query={"username": username, "role": role, "demo": True},
        )  # fmt: skip
        report.users.append(entry)


# ------------------------------------------------------------------------------------------ images

# Ridge growth iterations of demo masters: 12 instead of the generator's 14 saves about 15 % of the CPU per
# finger and leaves the pattern nearly as complete (docs/SYNTHESIS.md); benchmarks keep the default.
DEMO_GROWTH_ITERATIONS = 12
# How worn, pressed and noisy the demo's prints are (render_impression's difficulty, 0-1): at 0.4 the
# synthetic set's quality and error rates come nearest to FVC's SFinGe sets, a little easier; pristine
# prints (0) make two different fingers score higher than the matcher's calibration expects, and the
# duplicate queue fills with false cases (docs/SYNTHESIS.md).
DEMO_DIFFICULTY = 0.4


# Duplicate enrolments for the examiners' queue (crms.biometrics.dedup): demo person -> the person whose
# fingers it really has (a second impression of them, under its own name).
DEMO_DUPLICATE_OF = {7: 3, 19: 11, 42: 30}


def finger_png(seed: int, index: int, position: int, impression: int = 0) -> bytes:
    """The demo image of finger ``position`` (1-10, ANSI/NIST) of person ``index`` of ``seed``: a plain
    impression at 500 ppi (288 x 384), the same bytes every time."""
    from crms.fingerprint import generate_master, png_bytes, render_impression

    master = generate_master(
        seed=seed * 1_000_000 + index, finger_index=position - 1, iterations=DEMO_GROWTH_ITERATIONS
    )
    return png_bytes(render_impression(master, impression, difficulty=DEMO_DIFFICULTY))


def _finger_job(args: tuple[int, int, int]) -> tuple[int, int, bytes]:
    """(person index, position, PNG) — runs in worker processes."""
    seed, index, position = args
    if index in DEMO_DUPLICATE_OF:  # the same man enrolled twice: the other record's fingers, impression 1
        return index, position, finger_png(seed, DEMO_DUPLICATE_OF[index], position, 1)
    return index, position, finger_png(seed, index, position)


def mugshot_png(name: str, plate: str, seed: int) -> bytes:
    """A placeholder mugshot: a grey head-and-shoulders silhouette with a height chart and a name plate."""
    import io

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    w, h = 300, 400
    img = Image.new("L", (w, h), 225)
    d = ImageDraw.Draw(img)
    for y in range(40, 300, 20):  # height chart
        d.line([(0, y), (18 if y % 100 else 30, y)], fill=120, width=1)
    tone = rng.randint(70, 110)
    d.ellipse([95, 55, 205, 185], fill=tone)  # head
    d.rectangle([135, 175, 165, 215], fill=tone)  # neck
    d.chord([40, 200, 260, 420], 180, 360, fill=tone)  # shoulders
    d.rectangle([35, 300, 265, 385], fill=20)  # plate
    d.text((45, 310), name[:32], fill=235)
    d.text((45, 335), plate[:32], fill=235)
    d.text((45, 360), "CRO BALOCHISTAN - DEMO", fill=180)
    out = io.BytesIO()
    img.save(out, format="PNG", dpi=(96, 96))
    return out.getvalue()


def _store(settings):
    from crms.access.crypto import EncryptedStore

    return EncryptedStore.from_settings(settings)


def _quiet_worker() -> None:
    """Image workers leave Ctrl-C (sent to the whole terminal process group) to their parent, which stops
    them; SIGTERM keeps its default: a worker that gets one (``pkill``) dies, and its parent sees a broken
    pool and stops too."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Images:
    """Finger images drawn in ``jobs`` worker processes (or here when ``jobs`` is 1), one person ahead.

    A ``concurrent.futures`` process pool, not ``multiprocessing.Pool``: an idle ``Pool`` worker waits for
    work holding the task queue's lock, so when the workers are killed together with their parent (SIGTERM
    to all at once) the lock is never released and ``Pool.terminate()`` waits for it forever. The executor's
    parent never takes a lock its workers hold; a dead worker marks the pool broken."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.pool = None

    def __enter__(self) -> _Images:
        if self.jobs > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(
                self.jobs, mp_context=mp.get_context("spawn"), initializer=_quiet_worker
            )
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:  # images not yet started are dropped; those being drawn finish first
            self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(
        self, items: list[tuple[int, int, int]]
    ) -> Callable[[Callable[[], bool]], list[tuple[int, int, bytes]] | None]:
        """Start drawing ``items``; the returned ``wait(stop)`` gives the images, or None once ``stop()``
        (or once the workers are gone because everything is being stopped)."""
        if self.pool is None or not items:
            return lambda stop: None if stop() else [_finger_job(it) for it in items]
        from crms.biometrics.enrolment import await_result

        pending = [self.pool.submit(_finger_job, it) for it in items]

        def wait(stop: Callable[[], bool]) -> list[tuple[int, int, bytes]] | None:
            made = []
            for fut in pending:
                image = await_result(fut.result, stop)
                if image is None:
                    return None
                made.append(image)
            return made

        return wait


# ------------------------------------------------------------------------------------------ the builder

STAGES = ("all", "records", "fingerprints")


def _plans(db, seed: int, people: int) -> list[PersonPlan]:
    from crms.records.reference import PoliceStation, load_reference_data
    from crms.timeutil import today as today_fn

    today = today_fn()
    with db.transaction() as s:
        refuse_real_database(s)
        load_reference_data(s)
        stations = [
            p
            for p in s.scalars(select(PoliceStation).order_by(PoliceStation.code))
            if p.valid_to is None and p.kind == "police"
        ]
        for p in stations:
            s.expunge(p)
    return [plan_person(seed, i, stations, today) for i in range(people)]


def _person_id(session: Session, plan: PersonPlan) -> int | None:
    from crms.records.models import IdentityDocument
    from crms.records.services import normalise_document

    value, _ = normalise_document(*plan.doc_key)
    return session.scalar(
        select(IdentityDocument.person_id).where(
            IdentityDocument.doc_type == plan.doc_key[0], IdentityDocument.number == value
        )
    )


def planted_duplicates(db, *, people: int, seed: int = 1) -> list[tuple[int, int]]:
    """The planted duplicate enrolments among the first ``people`` demo persons of ``seed`` that are recorded:
    (the duplicate's person id, the id of the person whose fingers it has), by ``DEMO_DUPLICATE_OF``."""
    plans = {plan.index: plan for plan in _plans(db, seed, people)}
    pairs = []
    with db.transaction() as s:
        for dup, src in sorted(DEMO_DUPLICATE_OF.items()):
            if dup in plans and src in plans:
                ids = _person_id(s, plans[dup]), _person_id(s, plans[src])
                if None not in ids:
                    pairs.append(ids)
    return pairs


def build_demo(
    db,
    settings,
    *,
    people: int = 500,
    seed: int = 1,
    stage: str = "all",
    fingerprints: bool = True,
    mugshots: bool = True,
    templates: bool = True,
    jobs: int = 2,
    progress: Callable[[str, int, int], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> DemoReport:
    """Build (or complete) the demo database.

    ``stage``: ``records`` (persons, cases, statuses, mugshots, users: quick), ``fingerprints`` (ten
    synthetic fingers per demo person already recorded, then their templates: slow), or ``all``. One
    transaction per person and per finger, so an interruption keeps what was done and a re-run finishes the
    rest. ``templates``: extract the pending templates (when the fingerprint engine is installed).
    ``stop()``: asked between fingers and between templates; True ends the fingerprint stage early
    (``report.stopped``; what is done is kept).
    """
    from crms.errors import ValidationError

    if people < 0:
        raise ValidationError("--people must be 0 or more", field="people")
    if stage not in STAGES:
        raise ValidationError(f"stage must be one of {', '.join(STAGES)}", field="stage")
    report = DemoReport(people=people)
    plans = _plans(db, seed, people)
    if stage in ("all", "records"):
        person_ids = _write_records(db, plans, report, progress)
        if mugshots:
            _write_mugshots(db, settings, plans, person_ids, seed, report)
        # Users last, so that their one-time passwords are shown by a run that completes.
        with db.transaction() as s:
            ensure_users(s, report)
    if stage in ("all", "fingerprints") and fingerprints:
        _write_fingerprints(
            db, settings, plans, seed, jobs, templates, report, progress, stop or (lambda: False)
        )
    return report


def _write_records(db, plans: list[PersonPlan], report: DemoReport, progress) -> dict[int, int]:
    from crms.access.principal import system_principal
    from crms.records.models import PersonFlag
    from crms.timeutil import today as today_fn

    principal = system_principal("cli")
    today = today_fn()
    person_ids: dict[int, int] = {}
    for k, plan in enumerate(plans):
        with db.transaction() as s:
            pid = _write_person(s, principal, plan, today, report)
            person_ids[plan.index] = pid if pid is not None else _person_id(s, plan)
        if progress is not None:
            progress("persons", k + 1, len(plans))
    with db.transaction() as s:
        for kind, active in s.execute(select(PersonFlag.kind, PersonFlag.cleared_at.is_(None))):
            key = kind + ("" if active else " (cleared)")
            report.flags[key] = report.flags.get(key, 0) + 1
    return person_ids


def _write_mugshots(
    db, settings, plans: list[PersonPlan], person_ids: dict[int, int], seed: int, report
) -> None:
    """A front-view photo per demo person that has none yet (crms.faces.photos), one transaction each."""
    from sqlalchemy import exists

    from crms.access.principal import system_principal
    from crms.faces.models import PersonPhoto
    from crms.faces.photos import upload_photo

    principal = system_principal("cli")
    store = _store(settings)
    for plan in plans:
        pid = person_ids[plan.index]
        with db.transaction() as s:
            if s.scalar(select(exists().where(PersonPhoto.person_id == pid, PersonPhoto.kind == "front"))):
                continue
            doc = plan.data["documents"][0]["number"]
            png = mugshot_png(plan.name_en, doc, seed * 100_003 + plan.index)
            upload_photo(s, principal, store, pid, "front", png, note="demo placeholder")
            report.mugshots += 1


def _write_fingerprints(
    db, settings, plans, seed: int, jobs: int, templates: bool, report, progress, stop: Callable[[], bool]
) -> None:
    """Person by person: the fingers each demo person lacks (rows pending), then their templates."""
    from crms.access.principal import system_principal
    from crms.biometrics import enrolment
    from crms.biometrics.models import FINGER_POSITIONS, Fingerprint

    principal = system_principal("cli")
    store = _store(settings)
    tick = progress or (lambda stage, done, total: None)
    with enrolment.exclusive(settings.data_dir, "demo-fingerprints"):
        with db.transaction() as s:
            refuse_real_database(s)
            ids = {plan.index: _person_id(s, plan) for plan in plans}
            present = {
                (pid, pos)
                for pid, pos in s.execute(
                    select(Fingerprint.person_id, Fingerprint.position).where(Fingerprint.active.is_(True))
                )
            }
        report.notes += [f"person {p.index} of seed {seed} is not recorded; no fingers" for p in plans
                         if ids[p.index] is None][:5]  # fmt: skip
        work = [
            [(seed, plan.index, pos) for pos in FINGER_POSITIONS if (ids[plan.index], pos) not in present]
            for plan in plans
            if ids[plan.index] is not None
        ]
        report.persons_total = len(work)
        images_total = sum(len(w) for w in work)
        enroller = _Templates(db, store, principal, jobs, report) if templates else None
        try:
            if enroller is not None:
                enroller.run(stop, tick)  # prints left pending by an earlier run first
            with _Images(jobs) as maker:
                upcoming = maker.submit(work[0]) if work else None
                for k in range(len(work)):
                    made = upcoming(stop)
                    if made is None:
                        break
                    upcoming = maker.submit(work[k + 1]) if k + 1 < len(work) else None
                    for index, position, png in made:
                        if stop():
                            break
                        try:
                            checked = enrolment.check_image(png, position)  # decoded before the transaction
                        except enrolment.stopped_from_outside():  # its decoder stopped with us (pkill)
                            if enrolment.stop_follows(stop):
                                break
                            raise
                        with db.transaction() as s:
                            enrolment.capture(s, principal, store, ids[index], position, checked, ppi=500,
                                              source="synthetic")  # fmt: skip
                        report.fingerprints += 1
                        tick("fingerprints", report.fingerprints, images_total)
                    if stop():
                        break
                    if enroller is not None:
                        enroller.run(stop, None)
                        if stop():
                            break
                    report.persons_enrolled = k + 1
                    tick("persons enrolled", k + 1, len(work))
            report.stopped = stop() and report.persons_enrolled < len(work)
        finally:
            if enroller is not None:
                enroller.close()
    with db.transaction() as s:
        report.fingerprint_counts = enrolment.enrolment_counts(s)


class _Templates:
    """The demo's hold on the enrolment queue: an Enroller kept open across persons (models loaded once).
    When another process is enrolling (``crms fp enrol-pending``, the server's enrol worker), the demo
    leaves the templates to it and tries again at the next person."""

    def __init__(self, db, store, principal, jobs: int, report: DemoReport):
        from crms.biometrics import enrolment

        self.report = report
        self.enroller = enrolment.Enroller(db, store, principal, jobs=jobs)
        self.held = False
        if self.enroller.missing:
            report.notes.append(
                f"templates left pending: fingerprint engine unavailable ({self.enroller.missing})"
            )

    def run(self, stop: Callable[[], bool], tick) -> None:
        if self.enroller.missing:
            return
        if not self.held:
            try:
                self.enroller.__enter__()
            except Conflict as exc:
                if exc.message not in self.report.notes:
                    self.report.notes.append(exc.message)
                return
            self.held = True
        result = self.enroller.run(stop=stop, progress=tick)
        self.report.templates += result.enrolled
        self.report.notes += [n for n in result.notes if n not in self.report.notes]

    def close(self) -> None:
        if self.held:
            self.enroller.__exit__(None, None, None)
            self.held = False
