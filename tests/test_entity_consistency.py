"""Entity-level consistency: every mention of a masked entity is masked, one person one pseudonym."""
import re

import pytest

from legal_anon.pipeline.anonymizer import Anonymizer
from legal_anon.pipeline.names import (
    acronym_expansions,
    adjacent_extensions,
    distinctive_name_parts,
    organisation_short_forms,
)

from .test_anonymizer import spans_of  # (start, end, label) of the first occurrence of each substring


def pseudonymize(text, *items, **settings):
    anonymizer = Anonymizer(None, operators={"PERSON": "pseudonym"}, **settings)
    return anonymizer.anonymize(text, spans_of(text, *items))


def test_distinctive_parts_skip_titles_stop_words_and_legal_words():
    assert distinctive_name_parts("Mr Galip Yalman") == ["Galip", "GALIP", "Yalman", "YALMAN"]
    assert distinctive_name_parts("Applicant Ms Melahat VAN DIJK") == ["Melahat", "MELAHAT", "DIJK", "Dijk", "VAN DIJK"]
    assert distinctive_name_parts("Ms A.") == []  # an initial alone is no name to propagate
    assert "The" not in distinctive_name_parts("The Smith")


def test_given_names_and_case_variants_and_possessives_are_masked_everywhere():
    text = ("The applicants, Mrs Melahat Yalman and Mr Nadir Yalman, complained. Melahat was born in 1950; "
            "Nadir's brother lives nearby. YALMAN v. TURKEY. Later Melahat Yalman left.")
    out, reps = pseudonymize(text, ("Melahat Yalman", "PERSON"), ("Nadir Yalman", "PERSON"))
    for leaked in ("Melahat", "Nadir", "Yalman", "YALMAN"):
        assert leaked not in out, out
    assert "PERSON_2's brother" in out  # the possessive keeps its 's, the name goes
    # one pseudonym per person: Melahat's mentions all PERSON_1, Nadir's all PERSON_2
    by_text = {r["text"]: r["replacement"] for r in reps}
    assert by_text["Melahat"] == by_text["Melahat Yalman"] == "PERSON_1"
    assert by_text["Nadir"] == by_text["Nadir Yalman"] == "PERSON_2"


def test_a_given_name_shared_by_two_people_is_masked_but_linked_to_neither():
    text = "Ali Demir and Ali Kaya were arrested. Ali was released."
    out, reps = pseudonymize(text, ("Ali Demir", "PERSON"), ("Ali Kaya", "PERSON"))
    assert "Ali" not in out
    lone = [r for r in reps if r["text"] == "Ali"]
    assert lone and lone[0]["replacement"] not in ("PERSON_1", "PERSON_2")


def test_given_name_next_to_a_masked_surname_joins_it_and_a_split_name_keeps_one_pseudonym():
    text = "Mr Alan Whitfield was heard. Mr Alan Whitfield's counsel, and Whitfield himself, spoke."
    # the NER split the first mention and missed the given name in the second
    spans = spans_of(text, ("Alan", "PERSON"), ("Whitfield", "PERSON"))
    anonymizer = Anonymizer(None, operators={"PERSON": "pseudonym"})
    out, reps = anonymizer.anonymize(text, spans)
    assert out == "Mr PERSON_1 was heard. Mr PERSON_1's counsel, and PERSON_1 himself, spoke."
    old, _ = Anonymizer(None, operators={"PERSON": "pseudonym"}, entity_consistency=False).anonymize(text, spans)
    assert old.startswith("Mr PERSON_1 PERSON_2 was heard.")  # what entity_consistency closes: two pseudonyms


def test_initials_before_a_masked_surname_and_names_across_line_breaks():
    text = "Mr Galip Yalman appealed.\nG. Yalman and Galip\nYalman were the same person, as was G.K. Yalman."
    out, reps = pseudonymize(text, ("Galip Yalman", "PERSON"))
    assert re.search(r"\b(G\.|G\.K\.|Galip|Yalman)", out) is None, out
    by_text = {r["text"]: r["replacement"] for r in reps}
    assert by_text["G. Yalman"] == by_text["Galip\nYalman"] == by_text["Galip Yalman"] == "PERSON_1"
    assert by_text["G.K. Yalman"] == "PERSON_2"  # a middle initial Galip does not have: maybe someone else


def test_common_words_are_not_masked_through_a_name():
    text = "Judge John White presided. The white van was seized. Mr White agreed."
    out, _ = pseudonymize(text, ("John White", "PERSON"))
    assert "white van" in out  # case-sensitive: the word, not the name
    assert "White" not in out and "John" not in out


def test_organisation_short_forms_and_parenthesised_names_and_abbreviations():
    assert organisation_short_forms("London Borough of Southwark Council") == [
        "Borough of Southwark Council", "Southwark Council"]
    assert organisation_short_forms("Stockholm District Court") == []  # "District Court" names no one
    assert organisation_short_forms("Supreme Court") == []  # nothing shorter to go by
    assert acronym_expansions("to the Employment Appeal Tribunal (“EAT”). The EAT held", "EAT") == [
        "Employment Appeal Tribunal"]
    text = ("The Stockholm District Court (Stockholms tingsrätt) sat. The Southwark Council Housing Office wrote; "
            "the Housing Office replied. "
            "The Court of Justice of the European Union (ECJ) ruled; the ECJ said so. "
            "He appealed to the Employment Appeal Tribunal (“EAT”). The EAT and the Employment Appeal Tribunal agreed.")
    out, reps = Anonymizer(None).anonymize(text, spans_of(
        text, ("Stockholm District Court", "ORG"), ("Southwark Council Housing Office", "ORG"),
        ("Court of Justice of the European Union", "ORG"), ("EAT", "ORG")))
    for leaked in ("Stockholms tingsrätt", "Council Housing Office", "ECJ", "EAT", "Employment Appeal Tribunal"):
        assert leaked not in out, (leaked, out)
    s, e, abbreviation = adjacent_extensions(text, 4, 28, "ORG")
    assert text[s:e] == "Stockholm District Court (Stockholms tingsrätt)" and abbreviation is None


def test_a_definition_in_parentheses_is_not_swallowed():
    text = "The Government of Turkey (“the Government”) replied. The Court (no. 2) sat."
    s, e, abbreviation = adjacent_extensions(text, 4, 24, "ORG")
    assert (s, e, abbreviation) == (4, 24, None)
    i = text.index("Court (")
    assert adjacent_extensions(text, i, i + 5, "ORG")[:2] == (i, i + 5)


@pytest.mark.parametrize("consistency", [True, False])
def test_the_output_never_contains_a_masked_span(consistency):
    text = "Mr Galip Yalman (“GY”) met Ms Ayşe Kaya in Ankara. Yalman, Kaya and GY left Ankara."
    spans = spans_of(text, ("Galip Yalman", "PERSON"), ("Ayşe Kaya", "PERSON"), ("Ankara", "LOC"))
    out, reps = Anonymizer(None, entity_consistency=consistency).anonymize(text, spans)
    for r in reps:
        if len(r["text"].strip()) >= 3:
            assert r["text"] not in out
