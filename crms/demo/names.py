"""Name material for synthetic persons of Balochistan: given names (English spelling and Urdu script),
castes/tribes (qaum) by community, and helpers that draw a consistent person from a seeded random generator.

All of it is invented combinations of common names; no real person is described."""

from __future__ import annotations

import random
from dataclasses import dataclass

# (English, Urdu) — common male given names in Balochistan (Baloch, Brahui, Pashtun, Hazara, settlers).
MALE_NAMES: list[tuple[str, str]] = [
    ("Muhammad Akbar", "محمد اکبر"),
    ("Abdul Ghani", "عبدالغنی"),
    ("Abdul Rauf", "عبدالرؤف"),
    ("Abdul Qadir", "عبدالقادر"),
    ("Abdul Wahid", "عبدالواحد"),
    ("Abdul Hameed", "عبدالحمید"),
    ("Abdul Samad", "عبدالصمد"),
    ("Abdul Malik", "عبدالمالک"),
    ("Abdul Nabi", "عبدالنبی"),
    ("Abdul Razzaq", "عبدالرزاق"),
    ("Ghulam Nabi", "غلام نبی"),
    ("Ghulam Rasool", "غلام رسول"),
    ("Ghulam Haider", "غلام حیدر"),
    ("Ghulam Sarwar", "غلام سرور"),
    ("Gul Khan", "گل خان"),
    ("Gul Muhammad", "گل محمد"),
    ("Sher Ali", "شیر علی"),
    ("Sher Khan", "شیر خان"),
    ("Juma Khan", "جمعہ خان"),
    ("Dost Muhammad", "دوست محمد"),
    ("Naseebullah", "نصیب اللہ"),
    ("Zahoor Ahmed", "ظہور احمد"),
    ("Bashir Ahmed", "بشیر احمد"),
    ("Nazir Ahmed", "نذیر احمد"),
    ("Allah Dad", "اللہ داد"),
    ("Allah Bakhsh", "اللہ بخش"),
    ("Khuda Bakhsh", "خدا بخش"),
    ("Hazar Khan", "ہزار خان"),
    ("Nawab Khan", "نواب خان"),
    ("Mir Hazar", "میر ہزار"),
    ("Mir Jan", "میر جان"),
    ("Shah Jahan", "شاہ جہان"),
    ("Jan Muhammad", "جان محمد"),
    ("Noor Muhammad", "نور محمد"),
    ("Faiz Muhammad", "فیض محمد"),
    ("Wali Muhammad", "ولی محمد"),
    ("Taj Muhammad", "تاج محمد"),
    ("Din Muhammad", "دین محمد"),
    ("Sardar Khan", "سردار خان"),
    ("Habibullah", "حبیب اللہ"),
    ("Hafeezullah", "حفیظ اللہ"),
    ("Saifullah", "سیف اللہ"),
    ("Rahmatullah", "رحمت اللہ"),
    ("Kaleemullah", "کلیم اللہ"),
    ("Asadullah", "اسد اللہ"),
    ("Inayatullah", "عنایت اللہ"),
    ("Samiullah", "سمیع اللہ"),
    ("Najeebullah", "نجیب اللہ"),
    ("Zainullah", "زین اللہ"),
    ("Ehsanullah", "احسان اللہ"),
    ("Mehrab Khan", "محراب خان"),
    ("Chakar Khan", "چاکر خان"),
    ("Balach", "بالاچ"),
    ("Hammal", "حمل"),
    ("Shahbaz", "شہباز"),
    ("Dad Karim", "داد کریم"),
    ("Karim Bakhsh", "کریم بخش"),
    ("Pir Bakhsh", "پیر بخش"),
    ("Murad Ali", "مراد علی"),
    ("Liaquat Ali", "لیاقت علی"),
    ("Qurban Ali", "قربان علی"),
    ("Sikandar", "سکندر"),
    ("Yar Muhammad", "یار محمد"),
    ("Rozi Khan", "روزی خان"),
    ("Lal Muhammad", "لال محمد"),
    ("Abdul Khaliq", "عبدالخالق"),
    ("Abdul Jabbar", "عبدالجبار"),
    ("Abdul Sattar", "عبدالستار"),
    ("Muhammad Ishaq", "محمد اسحاق"),
    ("Muhammad Yousaf", "محمد یوسف"),
    ("Muhammad Hanif", "محمد حنیف"),
    ("Muhammad Aslam", "محمد اسلم"),
    ("Muhammad Rafiq", "محمد رفیق"),
    ("Muhammad Nawaz", "محمد نواز"),
    ("Muhammad Essa", "محمد عیسیٰ"),
    ("Muhammad Younas", "محمد یونس"),
    ("Abdullah", "عبداللہ"),
    ("Ahmed Khan", "احمد خان"),
    ("Akhtar Muhammad", "اختر محمد"),
    ("Ali Ahmed", "علی احمد"),
    ("Amanullah", "امان اللہ"),
    ("Attaullah", "عطاء اللہ"),
    ("Barkat Ali", "برکت علی"),
    ("Bismillah Khan", "بسم اللہ خان"),
    ("Fazal Muhammad", "فضل محمد"),
    ("Haji Khan", "حاجی خان"),
    ("Hussain Ali", "حسین علی"),
    ("Ibrahim", "ابراہیم"),
    ("Ismail", "اسماعیل"),
    ("Jalal Khan", "جلال خان"),
    ("Khan Muhammad", "خان محمد"),
    ("Manzoor Ahmed", "منظور احمد"),
    ("Nasir Ali", "ناصر علی"),
    ("Qadir Bakhsh", "قادر بخش"),
    ("Raza Muhammad", "رضا محمد"),
    ("Shakeel Ahmed", "شکیل احمد"),
    ("Tariq Mehmood", "طارق محمود"),
    ("Waheed Ahmed", "وحید احمد"),
    ("Zafar Iqbal", "ظفر اقبال"),
]

FEMALE_NAMES: list[tuple[str, str]] = [
    ("Bibi Noor", "بی بی نور"),
    ("Gul Bibi", "گل بی بی"),
    ("Zarina", "زرینہ"),
    ("Shahnaz", "شہناز"),
    ("Naseem Bibi", "نسیم بی بی"),
    ("Hajira", "ہاجرہ"),
    ("Mah Bibi", "ماہ بی بی"),
    ("Sakina", "سکینہ"),
    ("Razia", "رضیہ"),
    ("Khadija", "خدیجہ"),
    ("Fatima", "فاطمہ"),
    ("Amina", "آمنہ"),
    ("Zubaida", "زبیدہ"),
    ("Parveen", "پروین"),
    ("Nasreen", "نسرین"),
    ("Shabana", "شبانہ"),
    ("Bibi Hawa", "بی بی حوا"),
    ("Mehnaz", "مہناز"),
    ("Sharifa", "شریفہ"),
    ("Jamila", "جمیلہ"),
]

# (English, Urdu, community) — castes and tribes (qaum) found in Balochistan.
CASTES: list[tuple[str, str, str]] = [
    ("Rind", "رند", "baloch"),
    ("Raisani", "رئیسانی", "baloch"),
    ("Bugti", "بگٹی", "baloch"),
    ("Marri", "مری", "baloch"),
    ("Mengal", "مینگل", "baloch"),
    ("Zehri", "زہری", "baloch"),
    ("Lehri", "لہڑی", "baloch"),
    ("Jamali", "جمالی", "baloch"),
    ("Magsi", "مگسی", "baloch"),
    ("Domki", "ڈومکی", "baloch"),
    ("Khosa", "کھوسہ", "baloch"),
    ("Lashari", "لاشاری", "baloch"),
    ("Gichki", "گچکی", "baloch"),
    ("Baloch", "بلوچ", "baloch"),
    ("Bizenjo", "بزنجو", "brahui"),
    ("Mohammad Hasni", "محمد حسنی", "brahui"),
    ("Shahwani", "شاہوانی", "brahui"),
    ("Langove", "لانگو", "brahui"),
    ("Bangulzai", "بنگلزئی", "brahui"),
    ("Sasoli", "ساسولی", "brahui"),
    ("Kurd", "کرد", "brahui"),
    ("Kakar", "کاکڑ", "pashtun"),
    ("Achakzai", "اچکزئی", "pashtun"),
    ("Tareen", "ترین", "pashtun"),
    ("Mandokhail", "مندوخیل", "pashtun"),
    ("Panezai", "پانیزئی", "pashtun"),
    ("Barech", "بڑیچ", "pashtun"),
    ("Nasar", "ناصر", "pashtun"),
    ("Durrani", "درانی", "pashtun"),
    ("Kasi", "کاسی", "pashtun"),
    ("Luni", "لونی", "pashtun"),
    ("Musakhel", "موسیٰ خیل", "pashtun"),
    ("Sherani", "شیرانی", "pashtun"),
    ("Hazara", "ہزارہ", "hazara"),
    ("Arain", "آرائیں", "settler"),
    ("Jat", "جٹ", "settler"),
    ("Rajput", "راجپوت", "settler"),
    ("Sheikh", "شیخ", "settler"),
    ("Abbasi", "عباسی", "settler"),
    ("Soomro", "سومرو", "settler"),
]

# Community weights for a Balochistan register (rough, for realism of the mix only).
COMMUNITY_WEIGHTS = {"baloch": 0.34, "brahui": 0.18, "pashtun": 0.34, "hazara": 0.05, "settler": 0.09}


@dataclass(frozen=True)
class SyntheticName:
    given_en: str
    given_ur: str
    father_en: str
    father_ur: str
    relation: str
    caste_en: str
    caste_ur: str
    community: str
    gender: str


def draw_name(rng: random.Random, *, female_share: float = 0.06) -> SyntheticName:
    """A person's name, parentage (s/o, d/o or w/o) and caste, consistent in both scripts."""
    communities = list(COMMUNITY_WEIGHTS)
    community = rng.choices(communities, weights=[COMMUNITY_WEIGHTS[c] for c in communities])[0]
    caste = rng.choice([c for c in CASTES if c[2] == community])
    gender = "F" if rng.random() < female_share else "M"
    given = rng.choice(FEMALE_NAMES if gender == "F" else MALE_NAMES)
    father = rng.choice(MALE_NAMES)
    while father == given:
        father = rng.choice(MALE_NAMES)
    relation = "s/o" if gender == "M" else ("w/o" if rng.random() < 0.4 else "d/o")
    return SyntheticName(
        given_en=given[0],
        given_ur=given[1],
        father_en=father[0],
        father_ur=father[1],
        relation=relation,
        caste_en=caste[0],
        caste_ur=caste[1],
        community=community,
        gender=gender,
    )


def synthetic_cnic(rng: random.Random, gender: str, *, province: str = "5", serial: int | None = None) -> str:
    """13 digits in the real layout: province digit, 4 locality digits, 7 serial digits, a last digit odd for
    men and even (never 0) for women."""
    locality = f"{rng.randrange(1000, 10000):04d}"
    middle = f"{serial % 10_000_000:07d}" if serial is not None else f"{rng.randrange(10_000_000):07d}"
    last = rng.choice("13579") if gender == "M" else rng.choice("2468")
    return province + locality + middle + last
