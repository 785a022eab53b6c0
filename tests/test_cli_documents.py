"""Word and HTML files through ``legal-anon anonymize``: the same format out, the offsets of the
text outputs into the file's extracted text, errors that name the file, resuming, nothing
masked left in any part of an output file, the Ray engine, and a TAB dev judgment as DOCX."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import spacy
from spacy.language import Language

from legal_anon.cli import main
from legal_anon.io.documents import html_text

DEV_JSON = Path(__file__).resolve().parents[1] / "assets" / "tab_subset" / "echr_dev.json"
NAMES = ["Galip Yalman", "Ayşe Kowalczyk", "Zeynep Demir"]
PLACES = ["Diyarbakır", "Kraków"]
MASKED = NAMES + PLACES + ["Galip", "Yalman", "Kowalczyk", "Demir"]  # name parts are protected too

PAGE = f"""<!DOCTYPE html><html><head><title>Case of {NAMES[0]}</title>
<meta name="description" content="Judgment in the case of {NAMES[0]} v. Turkey"></head>
<body><h1>{NAMES[0]} v. Turkey</h1>
<p>The applicant, Mr <b>Galip</b> Yalman, was born in {PLACES[0]}.
<img src="photo.png" alt="Photograph of {NAMES[0]}"></p></body></html>"""


CALLS = []


@Language.component("documents_test_count")
def documents_test_count(doc):
    """Records each text the pipeline runs on: a Word or HTML file must be run once."""
    CALLS.append(doc.text)
    return doc


def ruler_pipeline(path: Path, patterns, count: bool = False) -> Path:
    """Entity ruler + anonymizer (pseudonyms for people), saved where the CLI loads it;
    ``count``: with this module's call counter (not for Ray workers, which cannot load it)."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": None})
    ruler.add_patterns([{"label": label, "pattern": text} for text, label in patterns])
    if count:
        nlp.add_pipe("documents_test_count")
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "pseudonym"}})
    nlp.to_disk(path)
    return path


PATTERNS = [(n, "PERSON") for n in NAMES] + [(p, "LOC") for p in PLACES]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return ruler_pipeline(tmp_path_factory.mktemp("documents_model") / "ruler", PATTERNS)


@pytest.fixture(scope="module")
def counted_model(tmp_path_factory):
    return ruler_pipeline(tmp_path_factory.mktemp("documents_model") / "counted", PATTERNS, count=True)


def judgment_docx(path: Path) -> Path:
    """A judgment in Word: a heading, a name split over three runs of different formatting,
    a table cell, a header and a footer."""
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = f"Case of {NAMES[0]} v. Turkey"
    document.sections[0].footer.paragraphs[0].text = f"Registry copy for {NAMES[2]}"
    document.add_heading(f"CASE OF {NAMES[0].upper()} v. TURKEY", level=1)
    paragraph = document.add_paragraph("The applicant, Mr ")
    paragraph.add_run("Ga").bold = True
    paragraph.add_run("lip Yal").italic = True
    paragraph.add_run("man")
    paragraph.add_run(f", was born in {PLACES[0]} and lives in {PLACES[1]}.")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Representative"
    table.cell(0, 1).text = NAMES[1]
    document.add_paragraph(f"Ms {NAMES[1]} represented him before the Court.")
    document.save(path)
    return path


def run(inputs, model, out, *extra):
    summary = out.parent / f"{out.name}.summary.json"
    rc = main(["anonymize", *map(str, inputs), "-m", str(model), "-o", str(out), "-q", "-f", "text,json,tab",
               "--summary-json", str(summary), *extra])
    return rc, json.loads(summary.read_text(encoding="utf8")) if summary.exists() else None


def extracted_text(path: Path) -> str:
    """The text the pipeline saw in a Word or HTML file (or a .txt)."""
    if path.suffix == ".docx":
        from legal_anon.io.docx_document import read_docx_text

        return read_docx_text(path)
    if path.suffix == ".html":
        return html_text(path.read_bytes())
    return path.read_text(encoding="utf8")


def parts_holding(data: bytes, strings) -> dict:
    """Every part of a zip that holds one of ``strings`` (as UTF-8 or XML-escaped)."""
    found = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            raw = z.read(name)
            hits = [s for s in strings if s.encode("utf8") in raw]
            if hits:
                found[name] = hits
    return found


def test_a_folder_of_word_html_and_text_files_with_a_broken_one(model, tmp_path):
    pytest.importorskip("legal_anon.io.docx_document")
    folder = tmp_path / "in"
    folder.mkdir()
    judgment_docx(folder / "judgment.docx")
    (folder / "page.html").write_text(PAGE, encoding="utf8")
    (folder / "plain.txt").write_text(f"{NAMES[2]} was heard in {PLACES[1]}.", encoding="utf8")
    (folder / "broken.docx").write_bytes(b"this is not a zip file")
    out = tmp_path / "out"
    rc, summary = run([folder], model, out)
    assert rc == 1  # one input could not be read; the others went on
    assert (out / "docx" / "judgment.docx").is_file() and (out / "html_document" / "page.html").is_file()
    assert sorted(p.name for p in (out / "text").iterdir()) == ["judgment.txt", "page.txt", "plain.txt"]
    assert not (out / "docx" / "broken.docx").exists()
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf8").splitlines()]
    assert len(errors) == 1 and errors[0]["doc_id"] == "" and errors[0]["source"].endswith("broken.docx")
    assert "broken.docx" in errors[0]["reason"]
    assert summary["docs"] == 3 and summary["documents"]["files"] == {"docx": 1, "html": 1}

    # offsets of spans.jsonl and the TAB output slice each file's extracted text to the masked strings
    records = {r["doc_id"]: r for r in map(json.loads, (out / "spans.jsonl").read_text(encoding="utf8").splitlines())}
    tab = json.loads((out / "tab_predictions.json").read_text(encoding="utf8"))
    for doc_id, source in (("judgment", "judgment.docx"), ("page", "page.html"), ("plain", "plain.txt")):
        text = extracted_text(folder / source)
        record = records[doc_id]
        masked = [text[r["start"]:r["end"]] for r in record["replacements"]]
        assert masked and set(masked) <= {*NAMES, *PLACES, *(n.upper() for n in NAMES)}, (doc_id, masked)
        assert tab[doc_id] == [[r["start"], r["end"]] for r in record["replacements"]]
        # -f text is the extracted text anonymized: a reviewer can check the offsets against it
        assert (out / "text" / f"{doc_id}.txt").read_text(encoding="utf8") == record["anonymized"]
    judgment_masked = [extracted_text(folder / "judgment.docx")[r["start"]:r["end"]]
                       for r in records["judgment"]["replacements"]]
    assert "Galip Yalman" in judgment_masked and NAMES[1] in judgment_masked and NAMES[2] in judgment_masked
    assert records["judgment"]["document"]["file"] == "docx/judgment.docx"
    stored = json.loads((out / "records" / "judgment.json").read_text(encoding="utf8"))
    assert isinstance(stored["document"]["report"], dict)  # the Word report (media counts, ...)

    # nothing masked anywhere in the output files: every part of the zip, the whole page
    data = (out / "docx" / "judgment.docx").read_bytes()
    assert parts_holding(data, MASKED) == {}
    assert parts_holding((folder / "judgment.docx").read_bytes(), MASKED)  # the check can fail
    page = (out / "html_document" / "page.html").read_text(encoding="utf8")
    assert not [s for s in MASKED if s in page]
    assert "<b>" in page and "<h1>" in page  # markup kept
    anonymized_text = extracted_text(out / "docx" / "judgment.docx")
    assert anonymized_text == (out / "text" / "judgment.txt").read_text(encoding="utf8")

    # a rerun of the same command skips every document; a changed file is redone
    rc, again = run([folder], model, out)
    assert rc == 1 and again["docs"] == 0 and again["docs_resumed"] == 3
    assert (out / "docx" / "judgment.docx").read_bytes() == data
    (folder / "page.html").write_text(PAGE.replace("photo.png", "other.png"), encoding="utf8")  # same text
    rc, third = run([folder], model, out)
    assert third["docs"] == 1 and third["docs_resumed"] == 2


def test_html_alone_and_what_needs_an_output_folder(counted_model, tmp_path):
    model = counted_model
    page = tmp_path / "page.html"
    page.write_text(PAGE, encoding="utf8")
    CALLS.clear()
    rc, summary = run([page], model, tmp_path / "out")
    assert len(CALLS) == 1  # the copy is written from the Doc the pipeline made: the model ran once
    assert rc == 0 and summary["documents"] == {"files": {"html": 1}, "report": {"scrubbed": 0}}
    written = (tmp_path / "out" / "html_document" / "page.html").read_text(encoding="utf8")
    assert "PERSON_1" in written and not [s for s in MASKED if s in written]
    assert main(["anonymize", str(page), "-m", str(model), "-q"]) == 2  # no -o: refused, nothing half-done
    assert main(["anonymize", str(page), "-m", str(model), "-o", str(tmp_path / "o2"), "-q",
                 "--tracked-changes", "maybe"]) == 2


def test_a_page_that_changed_after_it_was_read_fails_alone(model, tmp_path, monkeypatch):
    """The copy is made from the Doc of the text that was read; a file whose text is no longer
    that text is an error for that document, not a copy masked at the wrong offsets."""
    from legal_anon.io import documents

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.html").write_text(PAGE, encoding="utf8")
    (folder / "b.html").write_text(PAGE.replace("Turkey", "Poland"), encoding="utf8")
    real = documents.write_back

    def edit_then_write(nlp, doc, ref):
        if ref.name.endswith("a.html"):
            Path(ref.path).write_text(PAGE.replace("was born", "was not born"), encoding="utf8")
        return real(nlp, doc, ref)

    monkeypatch.setattr(documents, "write_back", edit_then_write)
    rc, summary = run([folder], model, tmp_path / "out")
    assert rc == 1 and summary["docs"] == 1
    assert [d["doc_id"] for d in summary["docs_failed"]] == ["a"]
    assert "changed since it was read" in summary["docs_failed"][0]["reason"]
    assert not (tmp_path / "out" / "html_document" / "a.html").exists()
    assert (tmp_path / "out" / "html_document" / "b.html").exists()


def dev_judgment():
    record = json.loads(DEV_JSON.read_text(encoding="utf8"))[0]
    masked = {(m["span_text"], m["entity_type"]) for layer in record["annotations"].values()
              for m in layer["entity_mentions"] if m["identifier_type"] in ("DIRECT", "QUASI")}
    return record["doc_id"], record["text"], sorted(masked)


def test_a_tab_dev_judgment_as_docx_comes_back_as_its_text_output(tmp_path):
    """The same judgment as .txt and as .docx (one paragraph per line): the anonymized DOCX's
    text equals the .txt output, character for character."""
    pytest.importorskip("legal_anon.io.docx_document")
    import docx

    doc_id, text, masked = dev_judgment()
    model = ruler_pipeline(tmp_path / "model", masked)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "as_text.txt").write_text(text, encoding="utf8")
    document = docx.Document()
    document.core_properties.comments = ""  # python-docx's template says "generated by python-docx"
    for line in text.split("\n"):
        document.add_paragraph(line)
    document.save(folder / "as_word.docx")
    assert extracted_text(folder / "as_word.docx").strip("\n") == text.strip("\n")  # the pipeline reads its text
    rc, summary = run([folder], model, tmp_path / "out")
    assert rc == 0 and summary["docs"] == 2
    out = tmp_path / "out"
    as_text = (out / "text" / "as_text.txt").read_text(encoding="utf8")
    assert as_text != text and "PERSON_1" in as_text
    assert extracted_text(out / "docx" / "as_word.docx").strip("\n") == as_text.strip("\n")
    # every string the run masked (three letters or more, as the guarantee counts them) is gone from every part
    record = json.loads((out / "records" / "as_word.json").read_text(encoding="utf8"))
    replaced = {text[r["start"]:r["end"]] for r in record["replacements"]}
    assert len(replaced) > 10
    long_enough = sorted(s for s in replaced if len(s.replace(" ", "")) >= 3)
    assert parts_holding((out / "docx" / "as_word.docx").read_bytes(), long_enough) == {}
    assert parts_holding((folder / "as_word.docx").read_bytes(), long_enough)


@pytest.mark.slow
def test_the_ray_engine_writes_the_same_word_file(model, tmp_path):
    pytest.importorskip("ray")
    pytest.importorskip("legal_anon.io.docx_document")
    folder = tmp_path / "in"
    folder.mkdir()
    judgment_docx(folder / "judgment.docx")
    rc_local, _ = run([folder], model, tmp_path / "local")
    rc_ray, summary = run([folder], model, tmp_path / "ray", "--engine", "ray", "--workers", "1")
    assert rc_local == rc_ray == 0 and summary["engine"] == "ray"
    assert summary["documents"]["files"] == {"docx": 1}
    for name in ("text/judgment.txt", "records/judgment.json", "spans.jsonl"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    assert zip_parts(tmp_path / "ray" / "docx" / "judgment.docx") == zip_parts(tmp_path / "local" / "docx" / "judgment.docx")


def zip_parts(path: Path) -> dict:
    """Each part's bytes (the zip's own entry times are the time of writing)."""
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_the_word_options_reach_the_file(model, tmp_path):
    """--tracked-changes refuse (default) names the file and the part; accept masks the
    accepted text; --drop-media removes the image; --input-format docx reads another suffix."""
    pytest.importorskip("legal_anon.io.docx_document")
    from docx.oxml.parser import parse_xml

    import docx

    folder = tmp_path / "in"
    folder.mkdir()
    path = judgment_docx(folder / "judgment.docx")
    document = docx.Document(path)
    document.element.body.append(parse_xml(
        '<w:p xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:r><w:t xml:space="preserve">'
        'The witness </w:t></w:r><w:del w:id="90" w:author="Clerk" w:date="2020-01-01T00:00:00Z"><w:r><w:delText>'
        'Zeynep Demir</w:delText></w:r></w:del><w:r><w:t xml:space="preserve"> was heard.</w:t></w:r></w:p>'))
    document.add_picture(io.BytesIO(tiny_png()))
    document.save(path)
    rc, summary = run([path], model, tmp_path / "refused")
    assert rc == 1 and summary["docs"] == 0
    reason = summary["inputs_failed"][0]["reason"]
    assert "judgment.docx" in reason and "word/document.xml" in reason and "tracked change" in reason
    rc, summary = run([path], model, tmp_path / "accepted", "--tracked-changes", "accept", "--drop-media")
    assert rc == 0 and summary["documents"]["report"]["media_removed"] == 1
    data = (tmp_path / "accepted" / "docx" / "judgment.docx").read_bytes()
    assert parts_holding(data, MASKED) == {}  # the deleted name is gone with the deletion
    assert not [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.startswith("word/media/")]
    renamed = folder / "judgment.bin"
    renamed.write_bytes((folder / "judgment.docx").read_bytes())
    rc, summary = run([renamed], model, tmp_path / "bin", "--input-format", "docx", "--tracked-changes", "accept")
    assert rc == 0 and (tmp_path / "bin" / "docx" / "judgment.docx").is_file()


def tiny_png() -> bytes:
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))
