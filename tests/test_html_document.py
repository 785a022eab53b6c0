"""HTML in, HTML out: masked in place in text, title, meta and alt/title attributes; markup
kept; nothing protected left anywhere in the file."""
from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
import spacy
from lxml import html as lxml_html

from tests.gold_spans import gold_pipeline, masked_mentions
from legal_anon.io.html_document import anonymize_html
from legal_anon.io.text_map import TextMap

DEV_JSON = Path(__file__).resolve().parents[1] / "assets" / "tab_subset" / "echr_dev.json"

PAGE = """<!DOCTYPE html><html><head><title>Case of Galip Yalman v. Turkey</title>
<meta charset="utf-8"><meta name="description" content="Judgment in the case of Mr Yalman">
<meta name="viewport" content="width=device-width">
<script>var party = "Yalman"; var n = 1;</script><style>.lead { color: red }</style></head>
<body><h1 class="title">Case of <b>Galip</b> <i>Yal</i>man</h1>
<p class="lead" id="yalman-intro">The applicant, Galip Yalman, lives in Bartın.
<img src="photo.jpg" alt="Portrait of Galip Yalman" title="Mr Yalman in Bartın">
<a href="https://example.org/people/yalman">profile</a> <a href="https://example.org/court">court</a></p>
<table><tr><td>Applicant</td><td>Galip YALMAN</td></tr></table>
<!-- reviewer note: Yalman confirmed --></body></html>"""


def ruler_nlp(patterns):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": None}).add_patterns(patterns)
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "pseudonym"}})
    return nlp


def test_text_title_meta_alt_and_comments_are_masked_in_place_and_nothing_is_left():
    nlp = ruler_nlp([{"label": "PERSON", "pattern": "Galip Yalman"}, {"label": "LOC", "pattern": "Bartın"}])
    result = anonymize_html(nlp, PAGE)
    out = result.html.decode("utf8")
    for name in ("Galip", "Yalman", "Bartın"):
        assert name.lower() not in out.lower(), name  # anywhere in the file, any case
    tree = lxml_html.fromstring(out)
    assert tree.findtext(".//title") == "Case of PERSON_1 v. Turkey"
    assert tree.find(".//meta[@name='description']").get("content") == "Judgment in the case of Mr PERSON_1"
    assert tree.find(".//img").get("alt") == "Portrait of PERSON_1"
    assert tree.find(".//img").get("title") == "Mr PERSON_1 in [LOC]"
    # the name split over <b> and <i> is replaced once, in the first node
    assert lxml_html.tostring(tree.find(".//h1"), encoding="unicode", with_tail=False) == '<h1 class="title">Case of <b>PERSON_1</b><i></i></h1>'
    # the identifying link goes, the other stays; the script keeps everything but the name
    links = tree.findall(".//a")
    assert [a.get("href") for a in links] == [None, "https://example.org/court"] and links[0].text == "profile"
    assert tree.findtext(".//script") == 'var party = "[MASKED]"; var n = 1;'
    assert tree.findtext(".//style") == ".lead { color: red }"
    assert result.scrubbed == 3  # the link, the id, the script
    # markup kept: same elements in the same order, same classes
    before = lxml_html.fromstring(PAGE)
    assert [e.tag for e in tree.iter()] == [e.tag for e in before.iter()]
    assert [e.get("class") for e in tree.iter()] == [e.get("class") for e in before.iter()]


def test_a_declared_charset_is_read_and_kept():
    page = PAGE.replace('charset="utf-8"', 'charset="iso-8859-1"').replace("Bartın", "Göteborg").encode("latin-1")
    nlp = ruler_nlp([{"label": "LOC", "pattern": "Göteborg"}])
    result = anonymize_html(nlp, page)
    assert "Göteborg" not in result.html.decode("latin-1") and "[LOC]" in result.html.decode("latin-1")
    assert "Göteborg" in result.text


def test_a_real_judgment_as_html_reads_as_its_text_and_comes_back_anonymized():
    record = json.loads(DEV_JSON.read_text(encoding="utf8"))[0]
    text = record["text"]
    nlp = gold_pipeline(record)
    paragraphs = text.split("\n\n")
    page = "<html><body>" + "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs) + "</body></html>"
    result = anonymize_html(nlp, page)
    assert result.text.strip("\n") == text  # the pipeline reads the judgment's own text
    # the page's paragraphs are the anonymized text's paragraphs, character for character
    tree = lxml_html.fromstring(result.html.decode("utf8"))
    assert [p.text_content() for p in tree.iter("p")] == result.anonymized.strip("\n").split("\n\n")
    out = result.html.decode("utf8")
    for s, e, _ in masked_mentions(record):
        surface = text[s:e]
        if len(surface.replace(" ", "")) >= 3 and any(c.isupper() or c.isdigit() for c in surface):
            assert html.escape(surface, quote=False) not in out, surface


def test_the_text_map_replaces_once_and_masks_both_sides_of_a_break():
    values = {}
    tmap = TextMap()
    for i, piece in enumerate(["Mr Ga", "lip", "Yal", "man left."]):
        if i == 2:
            tmap.add_break()
        tmap.add(piece, lambda v, i=i: values.__setitem__(i, v))
    assert tmap.text == "Mr Galip\n\nYalman left."
    start = tmap.text.index("Galip")
    end = tmap.text.index("Yalman") + len("Yalman")
    assert tmap.apply([{"start": start, "end": end, "replacement": "PERSON_1"}]) == 4
    assert values == {0: "Mr PERSON_1", 1: "", 2: "", 3: " left."}


@pytest.mark.parametrize("bad", [b"", b"\x00\x01binary"])
def test_something_that_is_no_page_is_refused(bad):
    with pytest.raises(ValueError):
        anonymize_html(ruler_nlp([]), bad)
