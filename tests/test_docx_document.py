"""Word in, Word out: a judgment built here with python-docx (and lxml where python-docx has
no API: footnotes, tracked changes, custom properties, text boxes, fields), anonymized in
place; every part of the output zip is searched for every masked string."""
from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from pathlib import Path

import docx
import pytest
import spacy
from docx.opc.constants import CONTENT_TYPE as CT, RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import Part, XmlPart
from docx.oxml.ns import qn
from docx.oxml.parser import parse_xml
from docx.shared import Pt
from lxml import etree
from spacy.language import Language

from tests.gold_spans import gold_pipeline, masked_mentions
from legal_anon.io.docx_document import DocxError, anonymize_docx, read_docx_text
from legal_anon.io.docx_scrub import leaks_in_package
from legal_anon.pipeline.anonymizer import AnonymizationError
from legal_anon.pipeline.protected import ProtectedStrings

DEV_JSON = Path(__file__).resolve().parents[1] / "assets" / "tab_subset" / "echr_dev.json"
W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
R_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
# what must not be anywhere in the output, in any case
SECRETS = ("Galip", "Yalman", "Bartın", "Ayşe Kaya")


def ruler_nlp(patterns):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": None}).add_patterns(patterns)
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "pseudonym"}})
    return nlp


def judgment_nlp():
    return ruler_nlp([{"label": "PERSON", "pattern": "Galip Yalman"}, {"label": "LOC", "pattern": "Bartın"}])


def tiny_png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def add_xml_part(source, package, partname, content_type, reltype, xml):
    part = XmlPart(PackURI(partname), content_type, parse_xml(xml), package)
    return source.relate_to(part, reltype)


def build_judgment(*, tracked_deletion=True) -> bytes:
    """The issue's corpus in one judgment."""
    d = docx.Document()
    d.core_properties.author = "Galip Yalman"
    d.core_properties.last_modified_by = "G. Yalman"
    d.core_properties.title = "Case of Galip Yalman v. Turkey"
    d.core_properties.comments = ""
    d.add_paragraph("CASE OF YALMAN v. TURKEY", style="Title")
    # the name split over three runs of different formatting
    p = d.add_paragraph("The applicant, Mr ", style="Normal")
    p.add_run("Ga").bold = True
    p.add_run("lip Yal").italic = True
    p.add_run("man").underline = True
    tail = p.add_run(", a Turkish national, lives in Bartın.")
    tail.font.size = Pt(13)
    facts = d.add_paragraph(style="Heading 1").add_run("THE FACTS")
    facts.font.size = Pt(14)
    facts.bold = True
    # a name in a table cell
    table = d.add_table(rows=2, cols=2)
    table.style = "Table Grid"
    table.cell(0, 0).text, table.cell(0, 1).text = "Applicant", "Galip Yalman"
    table.cell(1, 0).text, table.cell(1, 1).text = "Represented by", "Ms B. Baysal"
    # a name in a comment (on an unmasked run)
    commented = d.add_paragraph("The Government contested that argument.")
    d.add_comment(commented.runs, text="Check with Mr Yalman's lawyer", author="Galip Yalman", initials="GY")
    # a header and a footer
    d.sections[0].header.paragraphs[0].text = "Yalman v. Turkey - judgment"
    d.sections[0].footer.paragraphs[0].text = "Page footer"
    d.sections[0].different_first_page_header_footer = True
    d.sections[0].first_page_footer.paragraphs[0].text = "First page: Galip Yalman"
    # a footnote (python-docx has no footnote API: the part and the reference by hand)
    add_xml_part(d.part, d.part.package, "/word/footnotes.xml", CT.WML_FOOTNOTES, RT.FOOTNOTES,
                 f'<w:footnotes {W_NS}><w:footnote w:id="1"><w:p><w:r><w:t xml:space="preserve">'
                 'Statement of Galip Yalman of 3 May 2001.</w:t></w:r></w:p></w:footnote></w:footnotes>')
    add_xml_part(d.part, d.part.package, "/word/endnotes.xml", CT.WML_ENDNOTES, RT.ENDNOTES,
                 f'<w:endnotes {W_NS}><w:endnote w:id="1"><w:p><w:r><w:t>Bartın prison records.</w:t></w:r></w:p>'
                 '</w:endnote></w:endnotes>')
    note = d.add_paragraph("He lodged a complaint.")
    note.runs[0]._r.append(parse_xml(f'<w:r {W_NS}><w:footnoteReference w:id="1"/></w:r>'))
    # a hyperlink whose URL holds the name, and one that does not
    links = d.add_paragraph("See ")
    for url, text in (("https://example.org/people/galip-yalman", "the applicant's page"),
                      ("https://hudoc.echr.coe.int", "HUDOC")):
        rId = d.part.relate_to(url, RT.HYPERLINK, is_external=True)
        links._p.append(parse_xml(f'<w:hyperlink {W_NS} {R_NS} r:id="{rId}"><w:r><w:t>{text}</w:t></w:r></w:hyperlink>'))
    # a complex HYPERLINK field, a bookmark and a smart tag holding the name
    d.element.body.append(parse_xml(
        f'<w:p {W_NS}><w:bookmarkStart w:id="7" w:name="_Yalman_facts"/>'
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> HYPERLINK "https://example.org/'
        'cases/</w:instrText></w:r><w:r><w:instrText>yalman" </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/>'
        '</w:r><w:r><w:t>the case file</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>'
        '<w:smartTag w:uri="urn:schemas-microsoft-com:office:smarttags" w:element="PersonName"><w:r><w:t xml:space="preserve">'
        ' of Galip Yalman</w:t></w:r></w:smartTag><w:bookmarkEnd w:id="7"/></w:p>'))
    # a text box (DrawingML, with its VML fallback) holding the name
    d.element.body.append(parse_xml(
        f'<w:p {W_NS} xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
        'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" xmlns:v="urn:schemas-microsoft-com:vml">'
        '<w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:wsp><wps:txbx><w:txbxContent><w:p><w:r>'
        '<w:t>Box: Galip Yalman</w:t></w:r></w:p></w:txbxContent></wps:txbx></wps:wsp></w:drawing></mc:Choice>'
        '<mc:Fallback><w:pict><v:shape><v:textbox><w:txbxContent><w:p><w:r><w:t>Box: Galip Yalman</w:t></w:r></w:p>'
        '</w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>'))
    # a text box (VML) holding the name
    d.element.body.append(parse_xml(
        f'<w:p {W_NS} xmlns:v="urn:schemas-microsoft-com:vml"><w:r><w:t>Margin note.</w:t></w:r><w:r><w:pict><v:shape>'
        '<v:textbox><w:txbxContent><w:p><w:r><w:t>Applicant: Galip Yalman</w:t></w:r></w:p></w:txbxContent></v:textbox>'
        '</v:shape></w:pict></w:r></w:p>'))
    if tracked_deletion:  # a tracked deletion of a name found nowhere else, and an insertion
        d.element.body.append(parse_xml(
            f'<w:p {W_NS}><w:r><w:t xml:space="preserve">The witness </w:t></w:r><w:del w:id="90" w:author="Clerk" '
            'w:date="2020-01-01T00:00:00Z"><w:r><w:delText>Ayşe Kaya</w:delText></w:r></w:del><w:ins w:id="91" '
            'w:author="Clerk" w:date="2020-01-01T00:00:00Z"><w:r><w:t>X</w:t></w:r></w:ins><w:r><w:t xml:space="preserve">'
            ' was heard.</w:t></w:r></w:p>'))
    # an image
    d.add_picture(io.BytesIO(tiny_png()))
    d.inline_shapes[0]._inline.docPr.set("descr", "Photograph of Galip Yalman")
    # an embedded OLE object (a workbook, say)
    ole = Part(PackURI("/word/embeddings/oleObject1.bin"), "application/vnd.openxmlformats-officedocument.oleObject",
               b"\xd0\xcf\x11\xe0 an embedded workbook", d.part.package)
    rId = d.part.relate_to(ole, RT.OLE_OBJECT)
    d.element.body.append(parse_xml(
        f'<w:p {W_NS} {R_NS} xmlns:o="urn:schemas-microsoft-com:office:office"><w:r><w:object>'
        f'<o:OLEObject ProgID="Excel.Sheet.12" r:id="{rId}"/></w:object></w:r></w:p>'))
    # the template it was made from, a path on the author's machine
    settings = d.part.part_related_by(RT.SETTINGS)
    rId = settings.relate_to("file:///C:/Users/gyalman/Templates/Judgment.dotm",
                             "http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate",
                             is_external=True)
    settings.element.insert(0, parse_xml(f'<w:attachedTemplate {W_NS} {R_NS} r:id="{rId}"/>'))
    # a custom property
    add_xml_part(d.part.package, d.part.package, "/docProps/custom.xml", CT.OFC_CUSTOM_PROPERTIES, RT.CUSTOM_PROPERTIES,
                 '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
                 'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"><property '
                 'fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Applicant"><vt:lpwstr>Galip Yalman'
                 '</vt:lpwstr></property></Properties>')
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def parts_of(data: bytes):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def run_properties(paragraph):
    """(text, rPr XML) of each run, comment-reference runs left out (comments are removed)."""
    out = []
    for r in paragraph._p.iter(qn("w:r")):
        if r.find(qn("w:commentReference")) is not None:
            continue
        rpr = r.find(qn("w:rPr"))
        out.append(("".join(t.text or "" for t in r.iter(qn("w:t"))), b"" if rpr is None else etree.tostring(rpr)))
    return out


@pytest.fixture(scope="module")
def judgment():
    data = build_judgment()
    return data, anonymize_docx(judgment_nlp(), data, tracked_changes="accept", name="judgment.docx")


def test_no_part_of_the_output_holds_a_masked_string(judgment):
    data, result = judgment
    before = parts_of(data)
    assert any(b"Ay\xc5\x9fe Kaya" in v for v in before.values()) and any(b"galip-yalman" in v for v in before.values())
    for name, content in parts_of(result.data).items():
        text = content.decode("utf8", errors="replace").lower()
        for secret in SECRETS:
            assert secret.lower() not in text, (name, secret)
        assert "yalman" not in name.lower()
    assert not any(n.startswith("word/comments") or n == "word/people.xml" for n in parts_of(result.data))


def test_the_same_input_gives_the_same_bytes_and_no_time_of_anonymization(judgment, monkeypatch):
    data, result = judgment
    import time as time_module
    later = time_module.time() + 3 * 86400  # zip entries would carry the time of saving
    monkeypatch.setattr(time_module, "time", lambda: later)
    monkeypatch.setattr(time_module, "localtime", lambda secs=None: time_module.gmtime(later if secs is None else secs))
    again = anonymize_docx(judgment_nlp(), data, tracked_changes="accept", name="judgment.docx")
    assert again.data == result.data
    with zipfile.ZipFile(io.BytesIO(result.data)) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert z.testzip() is None and set(z.namelist()) == set(parts_of(result.data))


def test_the_document_keeps_its_structure_and_the_formatting_of_unmasked_runs(judgment):
    data, result = judgment
    before, after = docx.Document(io.BytesIO(data)), docx.Document(io.BytesIO(result.data))
    assert len(after.paragraphs) == len(before.paragraphs) and len(after.tables) == len(before.tables) == 1
    assert [p.style.name for p in after.paragraphs] == [p.style.name for p in before.paragraphs]
    assert after.tables[0].style.name == "Table Grid"
    # the split name: replaced once, in the first (bold) run; the other runs emptied, formatting kept
    split = after.paragraphs[1]
    assert [r.text for r in split.runs] == ["The applicant, Mr ", "PERSON_1", "", "", ", a Turkish national, lives in [LOC]."]
    assert [r.bold for r in split.runs][:2] == [None, True] and split.runs[2].italic and split.runs[3].underline
    # every run keeps its properties; unmasked runs keep their text too (the tracked-change
    # paragraph aside: accepting changed its runs)
    for b, a in zip(before.paragraphs, after.paragraphs):
        if b._p.find(qn("w:del")) is not None:
            continue
        rb, ra = run_properties(b), run_properties(a)
        assert [p for _, p in ra] == [p for _, p in rb]
        for (tb, _), (ta, _) in zip(rb, ra):
            if not any(s in tb.lower() for s in ("ga", "lip yal", "yalman", "bartın")) and tb != "man":
                assert ta == tb
    facts = after.paragraphs[2].runs[0]
    assert facts.text == "THE FACTS" and facts.bold and facts.font.size == Pt(14)
    assert after.tables[0].cell(0, 1).text == "PERSON_1" and after.tables[0].cell(1, 1).text == "Ms B. Baysal"


def test_every_story_is_read_and_written_back(judgment):
    _, result = judgment
    text = result.text
    for place in ("Mr Galip Yalman, a Turkish", "Applicant\nGalip Yalman", "Yalman v. Turkey - judgment", "Page footer",
                  "Statement of Galip Yalman", "Applicant: Galip Yalman", "First page: Galip Yalman",
                  "Bartın prison records.", "Box: Galip Yalman\nBox: Galip Yalman", "Photograph of Galip Yalman", "Case of Galip Yalman v. Turkey",
                  'HYPERLINK "https://example.org/cases/yalman"', "the case file of Galip Yalman"):
        assert place in text, place
    assert "Ayşe Kaya" not in text and "The witness X was heard." in text  # the tracked changes accepted
    assert "Check with" not in text  # comments are not read: they are removed
    out = docx.Document(io.BytesIO(result.data))
    assert out.sections[0].header.paragraphs[0].text == "PERSON_1 v. Turkey - judgment"
    assert out.core_properties.title == "Case of PERSON_1 v. Turkey"
    assert out.core_properties.author == "" and out.core_properties.last_modified_by == ""
    footnotes = parts_of(result.data)["word/footnotes.xml"].decode("utf8")
    assert "Statement of PERSON_1 of 3 May 2001." in footnotes
    assert "[LOC] prison records." in parts_of(result.data)["word/endnotes.xml"].decode("utf8")
    assert out.sections[0].first_page_footer.paragraphs[0].text == "First page: PERSON_1"
    # what the file says is what the pipeline wrote, and the scrub's mask in the field instruction
    assert read_docx_text(result.data) == result.anonymized.replace('cases/yalman"', 'cases/[MASKED]"')


def test_links_fields_bookmarks_and_properties_outside_the_text(judgment):
    _, result = judgment
    parts = parts_of(result.data)
    document = parts["word/document.xml"].decode("utf8")
    rels = parts["word/_rels/document.xml.rels"].decode("utf8")
    assert "https://hudoc.echr.coe.int" in rels and "example.org/people" not in rels
    assert b"attachedTemplate" not in parts["word/settings.xml"] and "word/_rels/settings.xml.rels" not in parts
    assert "the applicant&apos;s page" in document or "the applicant's page" in document  # the link's text stays
    assert 'w:name="_MASKED_facts"' in document
    assert 'descr="Photograph of PERSON_1"' in document  # a picture's alternative text, masked as text
    assert '<w:instrText>[MASKED]" </w:instrText>' in document  # the field instruction, matched ignoring case
    assert "Applicant" in parts["docProps/custom.xml"].decode("utf8") and "PERSON_1" in parts["docProps/custom.xml"].decode("utf8")
    assert result.report == {"comments_removed": 1, "tracked_changes_accepted": 2, "properties_cleared": 2,
                             "thumbnails_removed": 1, "media": 1, "ole_objects": 1, "media_removed": 0, "file_paths_removed": 1,
                             "scrubbed": 2, "hyperlinks_removed": 1}


def test_media_are_removed_when_asked(tmp_path):
    out = tmp_path / "out.docx"
    result = anonymize_docx(judgment_nlp(), build_judgment(), out, tracked_changes="accept", drop_media=True)
    assert out.read_bytes() == result.data
    assert result.report["media"] == result.report["ole_objects"] == 1 and result.report["media_removed"] == 2
    assert not any(n.startswith(("word/media/", "word/embeddings/")) for n in parts_of(result.data))
    document = parts_of(result.data)["word/document.xml"]
    assert b"<a:blip" not in document and b"<pic:pic" not in document  # the picture's drawing is gone
    assert b"<w:object" not in document and b"OLEObject" not in document
    assert document.count(b"Box: PERSON_1") == 2  # the text box's drawing is no picture: it stays
    docx.Document(io.BytesIO(result.data))


def test_tracked_changes_are_refused_by_default_naming_the_file_and_part():
    with pytest.raises(DocxError, match=r"^judgment\.docx: word/document\.xml: 2 tracked change\(s\) \(1 w:del, 1 w:ins\)"):
        anonymize_docx(judgment_nlp(), build_judgment(), name="judgment.docx")
    with pytest.raises(DocxError, match="judgment.docx: word/document.xml"):
        read_docx_text(build_judgment(), name="judgment.docx")


def rezip(data: bytes, **replace) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, replace.get(name, src.read(name)))
    return out.getvalue()


@pytest.mark.parametrize("case,message", [
    ("not a zip", r"^j\.docx: \(whole file\): not a \.docx \(not a zip archive\)"),
    ("encrypted", r"^j\.docx: \(OLE compound file\): encrypted"),
    ("doc", r"^j\.docx: \(OLE compound file\): a Word 97-2003 \.doc"),
    ("broken footnotes", r"^j\.docx: word/footnotes\.xml: broken XML"),
    ("macros", r"^j\.docx: word/document\.xml: a macro-enabled document"),
    ("no content types", r"^j\.docx: \[Content_Types\]\.xml: missing"),
    ("imported chunk", r"^j\.docx: word/afchunk\.htm: an imported chunk \(w:altChunk\)"),
    ("missing part", r"^j\.docx: word/footnotes\.xml: named by a relationship but missing"),
])
def test_files_that_cannot_be_read_are_errors_naming_file_and_part(case, message):
    data = build_judgment(tracked_deletion=False)
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    bad = {
        "not a zip": b"PROCEDURE\n\nThe case originated ...",
        "encrypted": ole + "EncryptedPackage".encode("utf-16-le"),
        "doc": ole + "WordDocument".encode("utf-16-le"),
        "broken footnotes": rezip(data, **{"word/footnotes.xml": b"<w:footnotes><w:footnote>"}),
        "macros": macro_enabled(data),
        "no content types": rezip_without(data, "[Content_Types].xml"),
        "imported chunk": alt_chunk(),
        "missing part": rezip_without(data, "word/footnotes.xml"),
    }[case]
    with pytest.raises(DocxError, match=message):
        anonymize_docx(judgment_nlp(), bad, name="j.docx")


def alt_chunk() -> bytes:
    """A document that imports an HTML page whole (Word converts it only when it saves)."""
    d = docx.Document()
    part = Part(PackURI("/word/afchunk.htm"), "text/html", b"<p>Galip Yalman</p>", d.part.package)
    rId = d.part.relate_to(part, "http://schemas.openxmlformats.org/officeDocument/2006/relationships/aFChunk")
    d.element.body.insert(0, parse_xml(f'<w:altChunk {W_NS} {R_NS} r:id="{rId}"/>'))
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def macro_enabled(data: bytes) -> bytes:
    """The same package declared a macro-enabled document (.docm)."""
    types = parts_of(data)["[Content_Types].xml"].replace(
        b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        b"application/vnd.ms-word.document.macroEnabled.main+xml")
    return rezip(data, **{"[Content_Types].xml": types})


def rezip_without(data: bytes, left_out: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            if name != left_out:
                dst.writestr(name, src.read(name))
    return out.getvalue()


def test_macros_are_kept_only_when_allowed():
    data = macro_enabled(build_judgment(tracked_deletion=False))
    result = anonymize_docx(judgment_nlp(), data, allow_macros=True)
    assert b"Yalman" not in parts_of(result.data)["word/document.xml"]


def test_the_final_check_reads_every_xml_part_and_skips_markup_values():
    protected = ProtectedStrings()
    protected.add("Yalman", None, whole_word=False)
    protected.add("1998", None, whole_word=False)
    data = rezip(build_judgment(tracked_deletion=False), **{
        "docProps/app.xml": b'<Properties xmlns="x"><Company>Yalman &amp; Co</Company><Pages w="1998">1998</Pages></Properties>',
        "word/footer1.xml": f'<w:ftr {W_NS}><w:p><w:r><w:t>1998</w:t></w:r></w:p></w:ftr>'.encode()})
    found = leaks_in_package(data, protected)
    assert ("docProps/app.xml", "Yalman") in found and ("word/footer1.xml", "1998") in found
    assert ("docProps/app.xml", "1998") not in found  # a page count and an attribute are markup, not text


def test_a_masked_number_leaves_measurements_alone_and_a_leak_is_an_error(monkeypatch):
    d = docx.Document()
    d.add_paragraph("Application no. 1998 was lodged.")
    table = d.add_table(rows=1, cols=1)
    table.cell(0, 0).text = "x"
    table.columns[0].width = 1998 * 635  # 1998 twips
    buf = io.BytesIO()
    d.save(buf)
    nlp = ruler_nlp([{"label": "CODE", "pattern": "1998"}])
    result = anonymize_docx(nlp, buf.getvalue())
    document = parts_of(result.data)["word/document.xml"].decode("utf8")
    assert 'w:w="1998"' in document and "no. [CODE] was" in document
    # a protected string the scrub cannot reach is an error, never an output
    monkeypatch.setattr("legal_anon.io.docx_document.scrub_package", lambda *a: (0, 0))
    d.core_properties.subject = "tab:1998"
    buf = io.BytesIO()
    d.save(buf)
    monkeypatch.setattr("legal_anon.io.docx_text.CORE_READ", ("dc:title",))
    with pytest.raises(AnonymizationError, match="docProps/core.xml"):
        anonymize_docx(nlp, buf.getvalue())


DEV_RECORDS = json.loads(DEV_JSON.read_text(encoding="utf8"))


@pytest.mark.parametrize("index", range(len(DEV_RECORDS)))
def test_a_real_judgment_as_docx_reads_as_its_text_and_comes_back_anonymized(index):
    """Each TAB dev judgment, one paragraph per line, masked with its gold mentions."""
    record = DEV_RECORDS[index]
    text = record["text"]
    nlp = gold_pipeline(record)
    d = docx.Document()
    d.core_properties.comments = ""  # the template's own description would be read as text
    for line in text.split("\n"):
        d.add_paragraph(line)
    buf = io.BytesIO()
    d.save(buf)
    assert read_docx_text(buf.getvalue()) == text  # one paragraph per line reads as the .txt
    result = anonymize_docx(nlp, buf.getvalue())
    assert result.text == text
    assert result.anonymized == nlp(text)._.anonymized  # the .txt output, character for character
    assert read_docx_text(result.data) == result.anonymized
    assert [p.text for p in docx.Document(io.BytesIO(result.data)).paragraphs] == result.anonymized.split("\n")
    # the body part, namespace declarations aside ("…/2006/main" is no masked year 2006)
    document = re.sub(r'\sxmlns(?::\w+)?="[^"]*"', "", parts_of(result.data)["word/document.xml"].decode("utf8"))
    for s, e, _ in masked_mentions(record):
        surface = text[s:e]
        if len(surface.replace(" ", "")) >= 3 and any(c.isupper() or c.isdigit() for c in surface):
            assert surface.replace("&", "&amp;") not in document, surface


def test_paragraphs_are_scrubbed_by_their_own_nodes_not_their_runs_text():
    """python-docx's w:p and w:r classes answer ``.text`` with their runs' text: the scrub
    must not take that for a node of theirs (nor set it, which would rewrite the runs)."""
    d = docx.Document()
    d.core_properties.comments = ""
    d.add_paragraph("Mr Galip Yalman wrote from galip.yalman@example.org.")
    buf = io.BytesIO()
    d.save(buf)
    result = anonymize_docx(judgment_nlp(), buf.getvalue())
    assert result.anonymized.startswith("Mr PERSON_1 wrote from")
    assert read_docx_text(result.data) == result.anonymized  # the runs are as the pipeline wrote them


@Language.component("docx_test_across_paragraphs")
def docx_test_across_paragraphs(doc):
    start = doc.text.index("Galip\nYalman")
    doc.ents = [doc.char_span(start, start + len("Galip\nYalman"), label="PERSON")]
    return doc


def test_a_span_across_a_paragraph_boundary_is_masked_on_both_sides():
    d = docx.Document()
    d.core_properties.comments = ""
    d.add_paragraph("The applicant, Mr Galip")
    d.add_paragraph("Yalman, was born in 1960.")
    buf = io.BytesIO()
    d.save(buf)
    nlp = spacy.blank("en")
    nlp.add_pipe("docx_test_across_paragraphs")
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "replace"}})
    result = anonymize_docx(nlp, buf.getvalue())
    assert [p.text for p in docx.Document(io.BytesIO(result.data)).paragraphs] == ["The applicant, Mr [PERSON]", ", was born in 1960."]


def test_a_masked_year_in_every_relationship_type_is_no_leak():
    """"2006" is in every OOXML relationship type and namespace: standards' URIs are markup."""
    d = docx.Document()
    d.add_paragraph("The applicant was arrested in 2006.")
    buf = io.BytesIO()
    d.save(buf)
    result = anonymize_docx(ruler_nlp([{"label": "DATETIME", "pattern": "2006"}]), buf.getvalue())
    assert "arrested in [DATETIME]." in result.anonymized
    rels = parts_of(result.data)["word/_rels/document.xml.rels"].decode("utf8")
    assert "officeDocument/2006/relationships/styles" in rels  # the standard's URI is untouched


def test_a_masked_common_word_leaves_the_enumerations_of_the_markup_alone():
    """A masked marital status "single" is no leak in w:u w:val="single" (an underline style):
    masking it there would leave Word an invalid value. A name in a value is still found."""
    d = docx.Document()
    d.add_paragraph("The applicant is single.").runs[0].underline = True
    d.add_paragraph("Mr Yalman agreed.").runs[0].font.name = "Yalman Sans"
    buf = io.BytesIO()
    d.save(buf)
    nlp = ruler_nlp([{"label": "DEM", "pattern": "single"}, {"label": "PERSON", "pattern": "Mr Yalman"}])
    result = anonymize_docx(nlp, buf.getvalue())
    document = parts_of(result.data)["word/document.xml"].decode("utf8")
    assert "The applicant is [DEM]." in result.anonymized and '<w:u w:val="single"/>' in document
    assert 'w:ascii="[MASKED] Sans"' in document and result.report["scrubbed"] >= 1


def test_accepting_moves_formatting_changes_and_a_deleted_row():
    d = docx.Document()
    d.core_properties.comments = ""
    d.element.body.insert(0, parse_xml(
        f'<w:p {W_NS}><w:moveFrom w:id="1" w:author="Ayşe Kaya" w:date="2020-01-01T00:00:00Z"><w:r><w:t>Moved away.</w:t>'
        '</w:r></w:moveFrom><w:r><w:rPr><w:b/><w:rPrChange w:id="2" w:author="Ayşe Kaya"><w:rPr/></w:rPrChange></w:rPr>'
        '<w:t xml:space="preserve">Kept </w:t></w:r><w:moveTo w:id="3" w:author="Ayşe Kaya"><w:r><w:t>moved here.</w:t>'
        '</w:r></w:moveTo></w:p>'))
    table = d.add_table(rows=2, cols=1)
    table.cell(0, 0).text, table.cell(1, 0).text = "kept row", "deleted row"
    table.rows[1]._tr.get_or_add_trPr().append(parse_xml(f'<w:del {W_NS} w:id="4" w:author="Ayşe Kaya"/>'))
    buf = io.BytesIO()
    d.save(buf)
    nlp = spacy.blank("en")
    nlp.add_pipe("anonymizer")
    result = anonymize_docx(nlp, buf.getvalue(), tracked_changes="accept")
    assert result.text == "Kept moved here.\nkept row" and result.report["tracked_changes_accepted"] == 4
    assert not any("Kaya" in c.decode("utf8", errors="replace") for c in parts_of(result.data).values())


def test_tabs_and_line_breaks_are_read_and_a_break_inside_a_span_goes_with_it():
    d = docx.Document()
    d.core_properties.comments = ""
    p = d.add_paragraph("Applicant:\tMr Galip")
    run = p.add_run()
    run.add_break()
    run.add_text("Yalman, Bartın")
    buf = io.BytesIO()
    d.save(buf)
    nlp = spacy.blank("en")
    nlp.add_pipe("docx_test_across_paragraphs")
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "replace"}})
    result = anonymize_docx(nlp, buf.getvalue())
    assert result.text == "Applicant:\tMr Galip\nYalman, Bartın"
    out = docx.Document(io.BytesIO(result.data)).paragraphs[0]
    assert out.text == "Applicant:\tMr [PERSON], Bartın"  # the tab stays, the break inside the name is gone
    assert out._p.find(".//" + qn("w:tab")) is not None and out._p.find(".//" + qn("w:br")) is None
