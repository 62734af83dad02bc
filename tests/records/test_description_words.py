"""A description is free text; its common words (build, complexion, eyes, hair, beard, languages) are
offered by the forms and said in Urdu on the Urdu pages, the printed record included. Anything else is shown
as written."""

from __future__ import annotations

import pytest

from ._support import person_data, signed_in


def test_a_common_word_is_said_in_urdu_whatever_its_case_and_other_words_as_written():
    from crms.records.labels import description_word

    assert description_word("build", " Heavy ", "ur") == "بھاری جسم"
    assert description_word("build", "Heavy", "en") == "Heavy"  # English: as written
    assert description_word("hair", "black, short", "ur") == "کالے، چھوٹے"
    assert description_word("build", "scar-faced and tall", "ur") == "scar-faced and tall"
    assert description_word("eye_colour", "heavy", "ur") == "heavy"  # a word of another field
    assert description_word("beard", None, "ur") == ""


def test_every_word_the_demo_writes_has_its_urdu():
    from crms.demo import builder
    from crms.records.labels import description_terms

    terms = description_terms()
    for field, words in (("build", builder.BUILDS), ("complexion", builder.COMPLEXIONS),
                         ("eye_colour", builder.EYES), ("hair", builder.HAIR), ("beard", builder.BEARDS),
                         ("language", {w for ws in builder.LANGUAGES.values() for w in ws})):  # fmt: skip
        missing = [w for w in words if w.casefold() not in terms[field]]
        assert not missing, (field, missing)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_person_page_and_the_printed_record_say_the_description_in_urdu(app, db):
    description = {
        "observed_on": "2024-03-14",
        "build": "Heavy",
        "eye_colour": "hazel",
        "hair": "black, short",
        "beard": "scar across the chin",
        "languages": ["Balochi", "Urdu"],
    }
    with signed_in(app, db, "cro_operator") as (c, api):
        pid = c.post("/api/v1/persons", json=person_data(descriptions=[description]), headers=api).json()
        pid = pid["person"]["id"]
        c.cookies.set("crms_lang", "ur")
        for path in (f"/persons/{pid}", f"/persons/{pid}/print"):
            page = c.get(path).text
            for said in ("بھاری جسم", "شربتی", "کالے، چھوٹے", "بلوچی، اردو", "scar across the chin"):
                assert said in page, (path, said)
            shown = (
                page.split('<section class="description"')[-1].split("</dl>")[0]
                if "print" not in path
                else page
            )
            assert "Heavy" not in shown and "hazel" not in shown, path  # (the correction form keeps them)
        page = c.get(f"/persons/{pid}").text
        assert 'list="terms-build"' in page and '<option value="heavy">بھاری جسم</option>' in page
        c.cookies.set("crms_lang", "en")
        page = c.get(f"/persons/{pid}/print").text
        assert "Heavy" in page and "hazel" in page and "Balochi, Urdu" in page  # as written, in English
