"""Word in, Word out: a judgment's .docx anonymized in place, styles and layout kept.

The package is opened with python-docx's OPC layer (every XML part parsed, so that lxml
reaches footnotes, custom properties and custom XML that python-docx has no API for); the
policy for what lies outside the text is applied (``docx_parts``: tracked changes refused
or accepted, comments removed, author properties cleared, thumbnail removed, media counted
or removed); the text is read in reading order with a map back to every run
(``docx_text``); the pipeline masks it and each replacement is written into the runs it
came from. Then every XML part is checked for the document's protected strings and what
the pipeline did not read is scrubbed (``docx_scrub``); the saved bytes are checked once
more, and ``AnonymizationError`` is raised rather than return a file that still holds one.
The policy, part by part, is in docs/documents.md.
"""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from docx.opc.package import Unmarshaller
from docx.opc.part import Part, PartFactory, XmlPart
from docx.opc.pkgreader import PackageReader
from docx.package import Package
from lxml import etree

from legal_anon.io import docx_parts
from legal_anon.io.docx_scrub import leaks_in_package, scrub_package
from legal_anon.io.docx_text import read_document
from legal_anon.io.text_map import anonymize_mapped
from legal_anon.pipeline.anonymizer import AnonymizationError

OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.{}.main+xml"
WORD_TYPES = {WORD_MAIN.format("document"), WORD_MAIN.format("template")}
MACRO_TYPES = {"application/vnd.ms-word.document.macroEnabled.main+xml",
               "application/vnd.ms-word.template.macroEnabledTemplate.main+xml"}
VBA_PROJECT = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
TRACKED_CHANGES = ("refuse", "accept")


class DocxError(ValueError):
    """A file that cannot be anonymized as Word; the message names the file and the part."""


@dataclass
class DocxResult:
    data: bytes  # the anonymized .docx
    text: str  # the text the pipeline read (offsets of the replacements refer to it)
    anonymized: str  # that text, anonymized
    replacements: List[dict]
    report: Dict[str, int]


def read_docx_text(src: Union[bytes, str, Path], *, tracked_changes: str = "refuse", allow_macros: bool = False,
                   name: Optional[str] = None) -> str:
    """The text the pipeline reads from a Word file (after the same policy as ``anonymize_docx``)."""
    package, _ = prepare(src, tracked_changes=tracked_changes, allow_macros=allow_macros, name=name)
    return read_document(package).text


def anonymize_docx(nlp, src: Union[bytes, str, Path], out_path: Optional[Union[str, Path]] = None, *,
                   tracked_changes: str = "refuse", drop_media: bool = False, allow_macros: bool = False,
                   name: Optional[str] = None) -> DocxResult:
    """Anonymize a Word file with ``nlp`` (its anonymizer, added if missing); write it to
    ``out_path`` (atomically) when given. ``src``: the file's bytes or its path; ``name``:
    how errors name it when ``src`` is bytes. Raises ``DocxError`` for a file that cannot be
    read and ``AnonymizationError`` rather than return one that holds a protected string."""
    package, report = prepare(src, tracked_changes=tracked_changes, allow_macros=allow_macros,
                              drop_media=drop_media, name=name)
    label = _label(src, name)
    tmap = read_document(package)
    doc, replacements, protected = anonymize_mapped(nlp, tmap)
    scrubbed = scrub_package(package, protected, tmap.read) if len(protected) else (0, 0)
    report["scrubbed"], report["hyperlinks_removed"] = scrubbed
    stream = io.BytesIO()
    package.save(stream)
    data = stable_zip(stream.getvalue())
    if len(protected):
        found = leaks_in_package(data, protected)
        if found:
            parts = sorted({part for part, _ in found})
            raise AnonymizationError(f"{label}: the anonymized file still holds {len(found)} protected string(s) "
                                     f"in {', '.join(parts)}")
    if out_path is not None:
        from legal_anon.io.atomic import write_atomic

        write_atomic(Path(out_path), data)
    return DocxResult(data, doc.text, doc._.anonymized, replacements, report)


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def stable_zip(data: bytes) -> bytes:
    """The same package with every entry stamped ``ZIP_EPOCH`` instead of the time of
    saving: the same input and model give the same bytes (a rerun, a checksum, a diff of
    two runs), and the file does not say when it was anonymized."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            stamped = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            stamped.compress_type, stamped.external_attr = info.compress_type, info.external_attr
            dst.writestr(stamped, src.read(info))
    return out.getvalue()


def prepare(src, *, tracked_changes: str, allow_macros: bool, drop_media: bool = False,
            name: Optional[str] = None) -> Tuple[Package, Dict[str, int]]:
    """The opened package with the policy outside the text applied, and the report so far."""
    if tracked_changes not in TRACKED_CHANGES:
        raise ValueError(f"tracked_changes must be one of {', '.join(TRACKED_CHANGES)}, not {tracked_changes!r}")
    label = _label(src, name)
    data = Path(src).read_bytes() if isinstance(src, (str, Path)) else bytes(src)
    package = open_package(data, label, allow_macros=allow_macros)
    report = {"comments_removed": docx_parts.remove_comments(package), "tracked_changes_accepted": 0}
    found = docx_parts.tracked_changes(package)
    if found and tracked_changes == "refuse":
        (part, counts), *others = found.items()
        also = f" (and in {', '.join(p for p, _ in others)})" if others else ""
        what = f"{sum(counts.values())} tracked change(s) ({docx_parts.describe(counts.items())}){also}"
        raise DocxError(f"{label}: {part}: {what}: deleted or old text would be published; accept or reject "
                        "them in Word, or anonymize with tracked_changes='accept' (--tracked-changes accept)")
    if found:
        report["tracked_changes_accepted"] = docx_parts.accept_tracked_changes(package)
    chunks = docx_parts.alt_chunks(package)
    if chunks:
        raise DocxError(f"{label}: {chunks[0]}: an imported chunk (w:altChunk) that Word has not converted yet: its "
                        "text can be neither read nor checked; open and save the file in Word first")
    report["properties_cleared"] = docx_parts.clear_people_properties(package)
    report["file_paths_removed"] = docx_parts.remove_file_paths(package)
    report["thumbnails_removed"] = docx_parts.remove_thumbnail(package)
    report["media"], report["ole_objects"] = docx_parts.media(package, drop=drop_media)
    report["media_removed"] = report["media"] + report["ole_objects"] if drop_media else 0
    return package, report


def open_package(data: bytes, label: str, *, allow_macros: bool) -> Package:
    """The package of a Word file, every XML part parsed; ``DocxError`` naming the file and
    the part for anything that is not a readable, macro-free Word document."""
    if data.startswith(OLE_SIGNATURE):
        what = "encrypted (password-protected)" if ENCRYPTED_STREAM in data else "a Word 97-2003 .doc, not a .docx"
        raise DocxError(f"{label}: (OLE compound file): {what}; save it as an unprotected .docx")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DocxError(f"{label}: (whole file): not a .docx (not a zip archive)") from None
    with archive:
        names = archive.namelist()
        if "[Content_Types].xml" not in names:
            raise DocxError(f"{label}: [Content_Types].xml: missing, not an Office Open XML package")
        for part in names:  # every XML part, read or not, must parse: a broken one cannot be checked
            if part.endswith((".xml", ".rels")):
                try:
                    etree.fromstring(archive.read(part), etree.XMLParser(resolve_entities=False, huge_tree=True))
                except etree.XMLSyntaxError as e:
                    raise DocxError(f"{label}: {part}: broken XML ({e})") from None
                except (zipfile.BadZipFile, OSError, EOFError) as e:  # a bad CRC, a truncated entry
                    raise DocxError(f"{label}: {part}: unreadable ({e})") from None
    try:
        package = Package()
        Unmarshaller.unmarshal(PackageReader.from_file(io.BytesIO(data)), package, _load_part)
        main = package.main_document_part
    except KeyError as e:  # "There is no item named 'word/styles.xml' in the archive"
        missing = re.search(r"named '([^']+)'", str(e))
        raise DocxError(f"{label}: {missing.group(1) if missing else '(a part)'}: named by a relationship but missing "
                        "from the archive") from None
    except etree.XMLSyntaxError as e:  # XML content in a part whose name does not say so
        raise DocxError(f"{label}: {getattr(e, 'partname', '(a part)')}: broken XML ({e})") from None
    if main.content_type in MACRO_TYPES or any(rel.reltype == VBA_PROJECT for rel in main.rels.values()):
        if not allow_macros:
            raise DocxError(f"{label}: {_partname(main)}: a macro-enabled document (.docm): its macros are code that "
                            "is not read or checked; use --allow-macros to anonymize the text and keep them")
    elif main.content_type not in WORD_TYPES:
        raise DocxError(f"{label}: {_partname(main)}: not a Word document (content type {main.content_type})")
    return package


def _load_part(partname, content_type, reltype, blob, package) -> Part:
    """python-docx's part for the content type; any other XML part as a plain ``XmlPart``,
    so that lxml can read and write it (footnotes, properties, custom XML, ...)."""
    try:
        part = PartFactory(partname, content_type, reltype, blob, package)
        if type(part) is Part and (content_type.endswith("+xml") or content_type in ("application/xml", "text/xml")):
            part = XmlPart.load(partname, content_type, blob, package)
    except etree.XMLSyntaxError as e:
        e.partname = str(partname).lstrip("/")
        raise
    return part


def _partname(part) -> str:
    return str(part.partname).lstrip("/")


def _label(src, name: Optional[str]) -> str:
    if name:
        return name
    return Path(src).name if isinstance(src, (str, Path)) else "<docx bytes>"

