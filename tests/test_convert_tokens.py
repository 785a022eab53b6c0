"""Token/tag JSONL and CoNLL -> DocBin; the tag-scheme decoder they share."""
import json

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.training.converters import conll_ner_to_docs

from legal_anon.corpus.tags import REPAIR_I_WITHOUT_B, TagError, spans_to_tags, tags_to_spans
from legal_anon.corpus.report import ConversionError
from legal_anon.corpus.convert_conll import convert_conll_file
from legal_anon.corpus.convert_jsonl import convert_jsonl_file

from .conftest import shared_file


def ents(doc):
    return [(e.text, e.label_) for e in doc.ents]


def write_jsonl(tmp_path, rows):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf8")
    return path


# --- tag schemes -----------------------------------------------------------------------------

def test_iob1_b_only_separates_adjacent_entities_of_one_type():
    spans, repairs = tags_to_spans(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], scheme="iob1")
    assert spans == [(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC")]
    assert not repairs


def test_iob2_repairs_orphan_i_tags_and_counts_them():
    spans, repairs = tags_to_spans(["O", "I-PER", "I-PER", "B-LOC", "I-ORG"], scheme="iob2")
    assert spans == [(1, 3, "PER"), (3, 4, "LOC"), (4, 5, "ORG")]
    assert repairs == {REPAIR_I_WITHOUT_B: 2}


def test_bioes_and_biluo_prefixes_decode_alike():
    bioes = ["S-PER", "O", "B-ORG", "I-ORG", "E-ORG"]
    biluo = ["U-PER", "O", "B-ORG", "I-ORG", "L-ORG"]
    assert tags_to_spans(bioes)[0] == tags_to_spans(biluo)[0] == [(0, 1, "PER"), (2, 5, "ORG")]


@pytest.mark.parametrize("scheme", ["iob2", "bioes"])
def test_spans_to_tags_round_trip(scheme):
    spans = [(0, 1, "PER"), (2, 5, "ORG"), (5, 6, "ORG")]
    assert tags_to_spans(spans_to_tags(spans, 7, scheme), scheme)[0] == spans


@pytest.mark.parametrize("tag", ["X-PER", "B-", "PER", "", "b-per"])
def test_unknown_tags_are_errors(tag):
    with pytest.raises(TagError):
        tags_to_spans(["O", tag])


# --- JSONL ---------------------------------------------------------------------------------

def test_jsonl_converts_entities_and_groups_sentences(tmp_path):
    rows = [{"tokens": ["robert", "gottschalk", "founded", "panavision"], "ner_tags": ["B-PER", "I-PER", "O", "B-ORG"]},
            {"tokens": ["in", "paris"], "ner_tags": ["O", "B-LOC"]}]
    docs, report = convert_jsonl_file(write_jsonl(tmp_path, rows), None, n_sents=2)
    assert len(docs) == 1
    assert ents(docs[0]) == [("robert gottschalk", "PER"), ("panavision", "ORG"), ("paris", "LOC")]
    assert [s.text for s in docs[0].sents] == ["robert gottschalk founded panavision", "in paris"]
    assert report.entities_out == {"PER": 1, "ORG": 1, "LOC": 1}


def test_jsonl_repairs_i_without_b_and_reports_it(tmp_path):
    rows = [{"tokens": ["the", "tongzhi", "emperor"], "ner_tags": ["O", "I-PER", "I-PER"]}]
    docs, report = convert_jsonl_file(write_jsonl(tmp_path, rows), None)
    assert ents(docs[0]) == [("tongzhi emperor", "PER")]
    assert report.repaired == {REPAIR_I_WITHOUT_B: 1}


def test_empty_sequences_are_kept_and_survive_docbin_and_examples(tmp_path):
    rows = [{"tokens": ["a"], "ner_tags": ["O"]}, {"tokens": [], "ner_tags": []}, {"tokens": ["b"], "ner_tags": ["B-X"]}]
    out = tmp_path / "out.spacy"
    docs, report = convert_jsonl_file(write_jsonl(tmp_path, rows), out, n_sents=10)
    assert [len(d) for d in docs] == [1, 0, 1]
    assert report.notes["empty sequences (kept as empty docs)"] == 1
    nlp = spacy.blank("en")
    loaded = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    assert [len(d) for d in loaded] == [1, 0, 1]
    example = Example(nlp.make_doc(loaded[1].text), loaded[1])
    assert example.get_aligned_ner() == []


def test_integer_tags_with_label_list(tmp_path):
    rows = [{"tokens": ["ada", "lovelace", "wrote"], "ner_tags": [1, 2, 0]}]
    docs, _ = convert_jsonl_file(write_jsonl(tmp_path, rows), None, labels=["O", "B-PER", "I-PER"])
    assert ents(docs[0]) == [("ada lovelace", "PER")]


@pytest.mark.parametrize(
    "row,labels,message",
    [
        ({"tokens": ["a", "b"], "ner_tags": ["O"]}, None, "in.jsonl:2: 2 tokens but 1 tags"),
        ({"tokens": ["a"], "ner_tags": ["Z-PER"]}, None, "in.jsonl:2: unknown tag 'Z-PER'"),
        ({"tokens": ["a"], "ner_tags": [7]}, ["O", "B-X"], "in.jsonl:2: integer tag 7 outside the label list"),
        ({"tokens": ["a"], "ner_tags": [1]}, None, "in.jsonl:2: integer tag 1 but no label list"),
        ({"tokens": ["a b"], "ner_tags": ["O"]}, None, "in.jsonl:2: invalid token 'a b'"),
        ('{"tokens": ["a"], "ner_tags": ', None, "in.jsonl:2: invalid JSON"),
        ({"words": ["a"]}, None, "in.jsonl:2: expected an object with 'tokens' and 'ner_tags'"),
    ],
)
def test_jsonl_errors_name_the_line_and_write_nothing(tmp_path, row, labels, message):
    path = write_jsonl(tmp_path, [{"tokens": ["ok"], "ner_tags": ["O"]}, row])
    out = tmp_path / "out.spacy"
    with pytest.raises(ConversionError) as err:
        convert_jsonl_file(path, out, labels=labels)
    assert message in str(err.value)
    assert not out.exists()


# --- CoNLL ---------------------------------------------------------------------------------

CONLL_2003 = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
met VBD I-VP O
Anna NNP I-NP I-PER
Karin NNP I-NP B-PER

-DOCSTART- -X- O O

BRUSSELS NNP I-NP I-LOC
1996-08-22 CD I-NP O
"""

MULTICONER = """
# id 85cfedc2-6dca	domain=en
the _ _ O
music _ _ O
of _ _ O
hildegard _ _ B-Person
of _ _ I-Person
bingen _ _ I-Person

# id 309f5b26-951e	domain=en
panavision _ _ B-Group
"""


def test_conll2003_iob1_matches_spacy_convert(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(CONLL_2003, encoding="utf8")
    docs, report = convert_conll_file(path, None, scheme="iob1", n_sents=10)
    ours = [ents(d) for d in docs]
    assert ours == [[("EU", "ORG"), ("German", "MISC"), ("Peter Blackburn", "PER"), ("Anna", "PER"), ("Karin", "PER")],
                    [("BRUSSELS", "LOC")]]
    theirs = [ents(d) for d in conll_ner_to_docs(CONLL_2003, n_sents=10, no_print=True)]
    assert ours == theirs
    assert report.documents_in == 2 and not report.repaired


def test_multiconer_header_lines_separate_sentences(tmp_path):
    path = tmp_path / "en.conll"
    path.write_text(MULTICONER, encoding="utf8")
    docs, report = convert_conll_file(path, None, n_sents=1)
    assert [ents(d) for d in docs] == [[("hildegard of bingen", "Person")], [("panavision", "Group")]]
    assert report.notes["sentences"] == 2


def test_conll_malformed_line_is_an_error_with_line_number(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("a O\nbroken\n", encoding="utf8")
    with pytest.raises(ConversionError, match=r"bad.conll:2: expected at least 2 columns"):
        convert_conll_file(path, None)


def test_conll_bad_tag_names_the_line_of_the_tag(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("-DOCSTART- -X- -X- O\n\nJohn NNP B-NP B-PER\nSmith NNP I-NP I-PER\nsaid VBD B-VP X-PER\n",
                    encoding="utf8")
    with pytest.raises(ConversionError, match=r"bad.conll:5: unknown tag 'X-PER'"):
        convert_conll_file(path, None)
    path.write_text("a O\n\nJohn B-PER\nSmith E-PER\n", encoding="utf8")
    with pytest.raises(ConversionError, match=r"bad.conll:4: tag 'E-PER' is not valid in scheme iob1"):
        convert_conll_file(path, None, scheme="iob1")


def test_real_conll2003_train_has_the_published_entity_counts():
    docs, report = convert_conll_file(shared_file("conll2003/train.txt"), None, scheme="iob1")
    assert report.notes["sentences"] == 14041 and report.tokens == 203621
    assert report.entities_out == {"PER": 6600, "LOC": 7140, "ORG": 6321, "MISC": 3438}
    iob2_docs, iob2_report = convert_conll_file(shared_file("conll2003/iob2/train.txt"), None, scheme="iob2")
    assert [ents(d) for d in iob2_docs] == [ents(d) for d in docs]
    assert not iob2_report.repaired


def test_real_multiconer_val_report_adds_up():
    docs, report = convert_jsonl_file(shared_file("multiconer2_en/val_split.jsonl"), None, n_sents=1)
    assert report.notes["sentences"] == 1679
    report.check()


@pytest.mark.parametrize("convert,content", [
    (convert_jsonl_file, b'{"tokens": ["a"], "ner_tags": ["O"]}\n{"tokens": ["Caf\xe9"], "ner_tags": ["O"]}\n'),
    (convert_conll_file, b"-DOCSTART- -X- -X- O\n\nJohn NNP B-NP B-PER\nCaf\xe9 NN I-NP O\n"),
])
def test_a_file_that_is_not_utf8_is_an_error_naming_file_byte_and_line(tmp_path, convert, content):
    path = tmp_path / "latin1.txt"
    path.write_bytes(content)
    with pytest.raises(ConversionError) as err:
        convert(path, tmp_path / "out.spacy")
    byte = content.index(b"\xe9")
    assert str(path) in str(err.value) and f"byte {byte} (line " in str(err.value) and "\\xe9" in str(err.value)
    assert not (tmp_path / "out.spacy").exists()
