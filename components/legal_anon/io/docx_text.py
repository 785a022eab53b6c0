"""The text of a Word document in reading order, each character tied to the run it came from.

The pipeline reads, in this order: the body (paragraphs, tables nested to any depth, content
controls, smart tags and custom XML read through), the headers and footers of every section
(first, odd and even pages), footnotes, endnotes, the glossary (building blocks); then the
document properties that describe its subject (title, subject, keywords, comments, category,
...), the values of the custom properties and the text of the custom XML data parts.

One Word paragraph is one line, so a judgment kept one paragraph per line reads exactly as
its ``.txt``; the stories and property values are separated by a blank line. Inside a
paragraph the pieces are the ``w:t`` texts of its runs (a name split over runs of different
formatting is one name to the pipeline), tabs and line breaks. What a paragraph holds outside
its line - field instructions (``HYPERLINK "..."``, ``MERGEFIELD``), hyperlink tooltips, text
boxes, the alternative text of pictures - is read after it, each on its own line, so the
paragraph's sentence stays whole.
Every piece writes back to its own node (``legal_anon.io.text_map``).
"""
from __future__ import annotations

from typing import Callable, Iterable, List, Set, Tuple

from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.part import XmlPart
from docx.oxml.ns import qn
from docx.oxml.parser import OxmlElement
from lxml import etree

from legal_anon.io.text_map import TextMap

M_T = "{http://schemas.openxmlformats.org/officeDocument/2006/math}t"
TEXT_TAGS = {qn("w:t"), M_T}
# run children that stand for a character but hold no text node
CHARACTERS = {qn("w:tab"): "\t", qn("w:ptab"): "\t", qn("w:br"): "\n", qn("w:cr"): "\n",
              qn("w:noBreakHyphen"): "\u2011"}
# property elements: formatting and settings, never text
NOT_READ = {qn(f"w:{t}") for t in ("pPr", "rPr", "sectPr", "tblPr", "tblGrid", "trPr", "tcPr", "sdtPr", "sdtEndPr",
                                    "smartTagPr", "customXmlPr", "tblPrEx", "del", "moveFrom")}
SHAPES = {qn("w:drawing"), qn("w:pict"), qn("w:object"),
          "{http://schemas.openxmlformats.org/markup-compatibility/2006}AlternateContent"}
# the elements of a drawing or picture whose descr/title (alt for VML) is its alternative text
ALT_TEXT_HOLDERS = (qn("wp:docPr"), qn("pic:cNvPr"), "{urn:schemas-microsoft-com:vml}shape")
# the core properties that describe the document's subject: read and masked (author and
# last_modified_by are cleared, see docx_parts)
CORE_READ = ("dc:title", "dc:subject", "cp:keywords", "dc:description", "cp:category", "cp:contentStatus",
             "dc:identifier", "cp:version")
VT = "{http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes}"
VT_STRINGS = {VT + t for t in ("lpwstr", "lpstr", "bstr")}  # a custom property's string value
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
# an element's own text node; python-docx's w:p, w:r and w:hyperlink classes override
# ``.text`` with the text of their runs (and w:r's setter replaces the run's content)
_NODE_TEXT = etree._Element.text


def node_text(el) -> str:
    return _NODE_TEXT.__get__(el) or ""


def set_node_text(el, value: str) -> None:
    _NODE_TEXT.__set__(el, value)


class DocxTextMap(TextMap):
    """A ``TextMap`` with Word's separators: one paragraph a line, a blank line between
    stories. Separators are no pieces (nothing to write back). ``read`` holds the
    (element, field) of the pieces whose text the anonymizer's own check covers, so the
    scrub leaves them as the pipeline wrote them."""

    def __init__(self) -> None:
        super().__init__()
        self._after_block = True
        self.read: Set[Tuple[object, str]] = set()

    def add_node(self, value: str, write: Callable[[str], None], node, field: str = "text", *,
                 record: bool = True) -> None:
        """A node's text; ``record=False`` for text the scrub must still search without
        regard to case (field instructions: "HYPERLINK https://example.org/yalman")."""
        if record:
            self.read.add((node, field))
        if value:
            self.add(value, write)
            self._after_block = False

    def line(self) -> None:
        """A new line (a paragraph starts), unless at the start of a story."""
        if self._length and not self._after_block:
            self._append("\n")

    def block(self) -> None:
        """A blank line before the next story or property value."""
        if self._length and not self._after_block:
            self._append("\n\n")
        self._after_block = True


def text_writer(el) -> Callable[[str], None]:
    def write(value: str) -> None:
        set_node_text(el, value)
        if value != value.strip():
            el.set(XML_SPACE, "preserve")
    return write


def attribute_writer(el, attr: str) -> Callable[[str], None]:
    return lambda value: el.set(attr, value)


def character_writer(el, original: str) -> Callable[[str], None]:
    """A tab or break inside a masked span: replaced by the text given (a ``w:t``) or removed."""
    def write(value: str) -> None:
        if value == original:
            return
        if value:
            t = OxmlElement("w:t")
            text_writer(t)(value)
            el.addprevious(t)
        el.getparent().remove(el)
    return write


class StoryReader:
    """Reads paragraphs and the containers around them into a ``DocxTextMap``."""

    def __init__(self, tmap: DocxTextMap) -> None:
        self.tmap = tmap

    def blocks(self, container) -> None:
        for child in container:
            if child.tag == qn("w:p"):
                self.paragraph(child)
            elif child.tag not in NOT_READ and isinstance(child.tag, str):
                self.blocks(child)

    def paragraph(self, p) -> None:
        self.tmap.line()
        # read after the line: instructions and tooltips (lists of (node, field, record)), text boxes
        deferred: List = []
        self.inline(p, deferred, [])
        for item in deferred:
            if isinstance(item, list):
                if not item:
                    continue
                self.tmap.line()
                for node, field, record in item:
                    writer = text_writer(node) if field == "text" else attribute_writer(node, field)
                    value = node_text(node) if field == "text" else node.get(field)
                    self.tmap.add_node(value or "", writer, node, field, record=record)
            else:
                self.blocks(item)

    def inline(self, el, deferred: List, fields: List[List]) -> None:
        for child in el:
            tag = child.tag
            if not isinstance(tag, str) or tag in NOT_READ:
                continue
            if tag == qn("w:r"):
                self.run(child, deferred, fields)
            elif tag in TEXT_TAGS:
                self.tmap.add_node(node_text(child), text_writer(child), child)
            else:
                if tag == qn("w:fldSimple") and child.get(qn("w:instr")):
                    deferred.append([(child, qn("w:instr"), False)])
                if tag == qn("w:hyperlink") and child.get(qn("w:tooltip")):
                    deferred.append([(child, qn("w:tooltip"), True)])
                self.inline(child, deferred, fields)

    def run(self, r, deferred: List, fields: List[List]) -> None:
        for child in r:
            tag = child.tag
            if tag in TEXT_TAGS:
                self.tmap.add_node(node_text(child), text_writer(child), child)
            elif tag in CHARACTERS:
                self.tmap.add_node(CHARACTERS[tag], character_writer(child, CHARACTERS[tag]), child)
            elif tag == qn("w:fldChar"):
                kind = child.get(qn("w:fldCharType"))
                if kind == "begin":
                    fields.append([])
                    deferred.append(fields[-1])
                elif kind == "end" and fields:
                    fields.pop()
            elif tag == qn("w:instrText"):
                if not fields:  # an instruction whose field began in an earlier paragraph
                    fields.append([])
                    deferred.append(fields[-1])
                fields[-1].append((child, "text", False))
            elif tag in SHAPES:
                deferred.extend(outermost(child.iter(qn("w:txbxContent"))))
                for el in child.iter(*ALT_TEXT_HOLDERS):  # a picture's alternative text, read as HTML's alt
                    if not in_text_box(el, child):  # a text box's pictures are read with its paragraphs
                        deferred.extend([(el, attr, True)] for attr in ("descr", "title", "alt") if el.get(attr))


def in_text_box(el, top) -> bool:
    """Whether ``el`` sits in a text box inside ``top``."""
    for ancestor in el.iterancestors():
        if ancestor is top:
            return False
        if ancestor.tag == qn("w:txbxContent"):
            return True
    return False


def outermost(elements: Iterable) -> List:
    """The elements not inside another of them (a text box's own text boxes are read with it)."""
    found: List = []
    for el in elements:
        if not any(f in el.iterancestors() for f in found):
            found.append(el)
    return found


def story_parts(main) -> List[XmlPart]:
    """The main document part, then headers and footers in the order the sections name them,
    then footnotes, endnotes and the glossary document."""
    parts = [main]
    body_refs = [ref.get(qn("r:id")) for ref in main.element.iter(qn("w:headerReference"), qn("w:footerReference"))]
    others = [rId for rId, rel in main.rels.items() if rel.reltype in (RT.HEADER, RT.FOOTER) and not rel.is_external]
    for rId in dict.fromkeys(body_refs + others):
        if rId in main.rels and not main.rels[rId].is_external:
            parts.append(main.rels[rId].target_part)
    for reltype in (RT.FOOTNOTES, RT.ENDNOTES, RT.GLOSSARY_DOCUMENT):
        parts.extend(rel.target_part for rel in main.rels.values() if rel.reltype == reltype and not rel.is_external)
    seen: List = []
    return [p for p in parts if isinstance(p, XmlPart) and not (p in seen or seen.append(p))]


def read_document(package) -> DocxTextMap:
    """The document's text in reading order (see the module docstring)."""
    tmap = DocxTextMap()
    reader = StoryReader(tmap)
    main = package.main_document_part
    for part in story_parts(main):
        tmap.block()
        reader.blocks(part.element)
    for part in property_parts(package, RT.CORE_PROPERTIES):
        for name in CORE_READ:
            el = part.element.find(qn(name))
            if el is not None and node_text(el).strip():
                tmap.block()
                tmap.add_node(node_text(el), text_writer(el), el)
    for part in property_parts(package, RT.CUSTOM_PROPERTIES):
        for el in part.element.iter(*VT_STRINGS):
            if node_text(el).strip():
                tmap.block()
                tmap.add_node(node_text(el), text_writer(el), el)
    for rel in main.rels.values():
        if rel.reltype == RT.CUSTOM_XML and not rel.is_external and isinstance(rel.target_part, XmlPart):
            for el in rel.target_part.element.iter():
                if isinstance(el.tag, str) and node_text(el).strip():
                    tmap.block()
                    tmap.add_node(node_text(el), text_writer(el), el)
    return tmap


def property_parts(package, reltype: str) -> List[XmlPart]:
    return [rel.target_part for rel in package.rels.values()
            if rel.reltype == reltype and not rel.is_external and isinstance(rel.target_part, XmlPart)]
