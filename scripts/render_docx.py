"""Screenshots of a Word judgment before and after ``legal-anon anonymize`` (docs/img/docx_*.png).

Builds a short judgment with python-docx (a heading, the applicant's name split over bold and
italic runs, a table, a header and a footer, a footnote: python-docx has no footnote API, so
that part is added with lxml), anonymizes it with the command line, converts both files to
PDF with LibreOffice (``soffice --headless --convert-to pdf``) and their first pages to PNG
(``pdftoppm -png -r 80``). Needs Debian's ``libreoffice-writer-nogui`` and ``poppler-utils``;
not run in CI.

    python -m scripts.render_docx                       # en_legal_anon -> docs/img/docx_original.png, docx_anonymized.png
    python -m scripts.render_docx --model PATH --out-dir /tmp/render
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import typer

W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'

FACTS = [
    "The applicant was born in 1962 and lives in Diyarbakır. On 3 May 2001 he was arrested by officers of the "
    "Anti-Terrorist Branch of the Diyarbakır Security Directorate and taken into police custody.",
    "On 7 May 2001 Ms Ayşe Kaya, his lawyer, asked the Diyarbakır public prosecutor to be allowed to see him. "
    "Her request was refused.",
]


def build_judgment(path: Path) -> None:
    """The judgment: every place the issue names a name can hide in a formatted file."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.opc.constants import CONTENT_TYPE as CT, RELATIONSHIP_TYPE as RT
    from docx.opc.packuri import PackURI
    from docx.opc.part import XmlPart
    from docx.oxml.parser import parse_xml
    from docx.shared import Pt, RGBColor

    d = docx.Document()
    d.core_properties.author = "Registry clerk"
    d.core_properties.comments = ""
    section = d.sections[0]
    section.header.paragraphs[0].text = "YALMAN v. TURKEY JUDGMENT"
    section.header.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    section.footer.paragraphs[0].text = "Prepared by the Registry for Mr Galip Yalman. Not binding."
    section.footer.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    d.add_heading("SECOND SECTION", level=2)
    d.add_heading("CASE OF YALMAN v. TURKEY", level=1)
    d.add_paragraph("(Application no. 32446/03)").alignment = WD_ALIGN_PARAGRAPH.CENTER
    d.add_heading("PROCEDURE", level=2)
    p = d.add_paragraph("The case originated in an application against the Republic of Turkey lodged by a "
                        "Turkish national, Mr ")
    p.add_run("Galip").bold = True
    name_end = p.add_run(" Yalman")
    name_end.italic = True
    name_end.font.color.rgb = RGBColor(0x1F, 0x4E, 0x79)
    p.add_run(" (“the applicant”), on 12 September 2003.")
    ref = p.add_run()
    ref._r.append(parse_xml(f'<w:rPr {W_NS}><w:vertAlign w:val="superscript"/></w:rPr>'))
    ref._r.append(parse_xml(f'<w:footnoteReference {W_NS} w:id="1"/>'))
    d.add_heading("THE FACTS", level=2)
    for text in FACTS:
        d.add_paragraph(text)
    table = d.add_table(rows=3, cols=2)
    table.style = "Table Grid"
    for row, (key, value) in enumerate((("Applicant", "Galip Yalman"), ("Representative", "Ms Ayşe Kaya, a lawyer "
                                        "practising in Diyarbakır"), ("Date of birth", "1962"))):
        table.cell(row, 0).text, table.cell(row, 1).text = key, value
        table.cell(row, 0).paragraphs[0].runs[0].bold = True
    closing = d.add_paragraph("Done in English, and notified in writing on 21 June 2007.")
    closing.runs[0].font.size = Pt(10)
    footnotes = XmlPart(PackURI("/word/footnotes.xml"), CT.WML_FOOTNOTES, parse_xml(
        f'<w:footnotes {W_NS}><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p>'
        '</w:footnote><w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r>'
        '</w:p></w:footnote><w:footnote w:id="1"><w:p><w:r><w:rPr><w:vertAlign w:val="superscript"/></w:rPr>'
        '<w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> Statement of Galip Yalman to the Diyarbakır public '
        'prosecutor, 3 May 2001.</w:t></w:r></w:p></w:footnote></w:footnotes>'), d.part.package)
    d.part.relate_to(footnotes, RT.FOOTNOTES)
    d.save(path)


def to_png(docx_path: Path, png_path: Path, work: Path) -> None:
    """First page of ``docx_path`` as a PNG at 80 dpi (LibreOffice, then pdftoppm)."""
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(work), str(docx_path)],
                   check=True, capture_output=True)
    pdf = work / f"{docx_path.stem}.pdf"
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(pdf), str(work / docx_path.stem)],
                   check=True)
    page = sorted(work.glob(f"{docx_path.stem}*.png"))[0]
    shutil.move(str(page), png_path)


def main(model: str = typer.Option("en_legal_anon", "--model", "-m", help="Pipeline name or path"),
         out_dir: Path = typer.Option(Path("docs/img"), "--out-dir")):
    for tool in ("soffice", "pdftoppm"):
        if shutil.which(tool) is None:
            raise SystemExit(f"render_docx: {tool} not found (apt-get install libreoffice-writer-nogui poppler-utils)")
    work = Path(tempfile.mkdtemp(prefix="legal_anon_render_"))
    (work / "in").mkdir()
    original = work / "in" / "judgment.docx"
    build_judgment(original)
    rc = subprocess.run([sys.executable, "-m", "legal_anon", "anonymize", str(original), "-m", model,
                         "-o", str(work / "out"), "-q"]).returncode
    if rc != 0:
        raise SystemExit(f"render_docx: legal-anon anonymize exited with {rc}")
    anonymized = work / "out" / "docx" / "judgment.docx"
    out_dir.mkdir(parents=True, exist_ok=True)
    to_png(original, out_dir / "docx_original.png", work / "pdf_original")
    shutil.copy(anonymized, work / "judgment_anonymized.docx")
    to_png(work / "judgment_anonymized.docx", out_dir / "docx_anonymized.png", work / "pdf_anonymized")
    print(f"render_docx: {out_dir / 'docx_original.png'}, {out_dir / 'docx_anonymized.png'} (work files in {work})")


if __name__ == "__main__":
    typer.run(main)
