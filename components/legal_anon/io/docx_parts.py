"""What a Word file holds outside its text, and the policy for each (docs/documents.md).

Applied to the package before its text is read: tracked changes refused or accepted,
comments and their people removed, the author properties and the paths on the author's
machine cleared, the thumbnail (a picture of the first page, names and all) removed, images
and embedded objects counted and, when asked, removed; imported chunks (``w:altChunk``), whose
content is no XML to read or check, found for refusal. Each function returns how many things
it changed, for the report.
"""
from __future__ import annotations

from collections import Counter
from typing import Dict, Iterable, Iterator, List, Tuple

from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.part import XmlPart
from docx.oxml.ns import qn

R_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
APP_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}"
# tracked changes: a revision's content or its mark, each with its author and date; accepting
# removes them all but w:ins and w:moveTo, whose content stays
REVISIONS = {qn(f"w:{t}") for t in (
    "ins", "del", "moveFrom", "moveTo", "moveFromRangeStart", "moveFromRangeEnd", "moveToRangeStart", "moveToRangeEnd",
    "rPrChange", "pPrChange", "sectPrChange", "tblPrChange", "tblPrExChange", "trPrChange", "tcPrChange",
    "tblGridChange", "numberingChange", "cellIns", "cellDel", "cellMerge", "customXmlInsRangeStart",
    "customXmlInsRangeEnd", "customXmlDelRangeStart", "customXmlDelRangeEnd", "customXmlMoveFromRangeStart",
    "customXmlMoveFromRangeEnd", "customXmlMoveToRangeStart", "customXmlMoveToRangeEnd")}
KEPT_CONTENT = {qn("w:ins"), qn("w:moveTo")}
# the mark sits in a property element: a paragraph mark, a table row or cell was inserted/deleted
MARK_HOLDERS = {qn("w:rPr"), qn("w:trPr"), qn("w:tcPr"), qn("w:pPr")}
COMMENT_PARTS = {"comments", "commentsExtended", "commentsIds", "commentsExtensible", "people"}
COMMENT_MARKS = {qn("w:commentRangeStart"), qn("w:commentRangeEnd"), qn("w:commentReference")}
CLEARED_APP = ("Company", "Manager", "HyperlinkBase")
OLE_RELS = {RT.OLE_OBJECT, RT.PACKAGE}
MEDIA_HOLDERS = {qn("w:drawing"), qn("w:pict"), qn("w:object"), qn("w:background")}
LOCAL_PATHS = {"attachedTemplate", "mailMergeSource", "mailMergeHeaderSource"}


def xml_parts(package) -> Iterator[XmlPart]:
    for part in list(package.iter_parts()):
        if isinstance(part, XmlPart):
            yield part


def tracked_changes(package) -> Dict[str, Counter]:
    """Part name -> revision elements by tag (``w:ins`` ...), for the parts that have any."""
    found = {}
    for part in xml_parts(package):
        counts = Counter(_prefixed(el.tag) for el in part.element.iter(*REVISIONS))
        if counts:
            found[str(part.partname).lstrip("/")] = counts
    return found


def accept_tracked_changes(package) -> int:
    """Accept every revision as Word's "Accept All" does: deleted and moved-away content
    goes, inserted and moved-in content stays without its wrapper, old formatting records go.
    A deleted paragraph mark only loses its mark (the paragraph is not merged)."""
    accepted = 0
    for part in xml_parts(package):
        root = part.element
        for el in list(root.iter(*REVISIONS)):
            if el.getroottree().getroot() is not root:  # inside content removed already
                continue
            parent = el.getparent()
            accepted += 1
            if parent.tag == qn("w:trPr") and el.tag == qn("w:del"):
                _remove(parent.getparent())  # a deleted table row
            elif el.tag == qn("w:cellDel"):
                _remove(parent.getparent())  # a deleted table cell
            elif el.tag in KEPT_CONTENT and parent.tag not in MARK_HOLDERS:
                unwrap(el)
            else:
                _remove(el)
    return accepted


def remove_comments(package) -> int:
    """Comments, their extensions and their people (names, e-mail addresses) leave the
    package; the marks that anchor them leave the text. Returns the comments removed."""
    removed = 0
    for part in list(package.iter_parts()):
        for rId, rel in list(part.rels.items()):
            if rel.is_external or rel.reltype.rsplit("/", 1)[-1] not in COMMENT_PARTS:
                continue
            if rel.reltype == RT.COMMENTS and isinstance(rel.target_part, XmlPart):
                removed += sum(1 for _ in rel.target_part.element.iter(qn("w:comment")))
            part.rels.pop(rId)
        if isinstance(part, XmlPart):
            for mark in list(part.element.iter(*COMMENT_MARKS)):
                run = mark.getparent()
                _remove(mark)
                if run.tag == qn("w:r") and all(c.tag == qn("w:rPr") for c in run):
                    _remove(run)
    return removed


def clear_people_properties(package) -> int:
    """Who wrote the file, not what it is about: core author and last_modified_by, and the
    app properties Company, Manager and HyperlinkBase are cleared. Returns the fields cleared."""
    cleared = 0
    for rel in list(package.rels.values()):
        if rel.is_external:
            continue
        part = rel.target_part
        if rel.reltype == RT.CORE_PROPERTIES and hasattr(part, "core_properties"):
            props = part.core_properties
            for field in ("author", "last_modified_by"):
                if getattr(props, field):
                    setattr(props, field, "")
                    cleared += 1
        elif rel.reltype == RT.EXTENDED_PROPERTIES and isinstance(part, XmlPart):
            for name in CLEARED_APP:
                for el in part.element.iter(APP_NS + name):
                    if el.text:
                        el.text = ""
                        cleared += 1
    return cleared


def remove_thumbnail(package) -> int:
    """The package thumbnail is a picture of the first page, unmasked: always removed."""
    rIds = [rId for rId, rel in package.rels.items() if rel.reltype == RT.THUMBNAIL]
    for rId in rIds:
        package.rels.pop(rId)
    return len(rIds)


def media(package, drop: bool) -> Tuple[int, int]:
    """(images, embedded objects) of the package, each counted once; with ``drop`` they are
    removed with the drawings, pictures and objects that show them."""
    images, objects = set(), set()
    for part in list(package.iter_parts()):
        references = references_by_rel(part.element) if drop and isinstance(part, XmlPart) else {}
        for rId, rel in list(part.rels.items()):
            kind = images if rel.reltype == RT.IMAGE else objects if rel.reltype in OLE_RELS else None
            if kind is None:
                continue
            kind.add(rel.target_ref if rel.is_external else rel.target_part.partname)
            if drop:
                for el in references.get(rId, []):
                    _remove(next((a for a in el.iterancestors() if a.tag in MEDIA_HOLDERS), el))
                part.rels.pop(rId)
    return len(images), len(objects)


def remove_file_paths(package) -> int:
    """The attached template and a mail merge's data sources are paths on the author's
    machine ("file:///C:/Users/gyalman/..."): removed with the settings that name them."""
    removed = 0
    for part in xml_parts(package):
        references = None
        for rId, rel in list(part.rels.items()):
            if rel.reltype.rsplit("/", 1)[-1] not in LOCAL_PATHS:
                continue
            references = references_by_rel(part.element) if references is None else references
            for el in references.get(rId, []):
                holder = next((a for a in el.iterancestors() if a.tag == qn("w:mailMerge")), el)
                _remove(holder)
            part.rels.pop(rId)
            removed += 1
    return removed


def references_by_rel(root) -> Dict[str, List]:
    """rId -> the elements whose relationship attribute (``r:id``, ``r:embed``, ...) names it."""
    found: Dict[str, List] = {}
    for el in root.iter():
        if isinstance(el.tag, str):
            for k, v in el.attrib.items():
                if k.startswith(R_NS):
                    found.setdefault(v, []).append(el)
    return found


def alt_chunks(package) -> List[str]:
    """The parts imported whole by ``w:altChunk`` (HTML, RTF, another .docx): Word converts them
    only when it saves; until then their text can be neither read nor checked here."""
    found = []
    for part in xml_parts(package):
        for el in part.element.iter(qn("w:altChunk")):
            rel = part.rels.get(el.get(qn("r:id")))
            found.append(str(rel.target_part.partname).lstrip("/") if rel is not None and not rel.is_external
                         else str(part.partname).lstrip("/"))
    return found


def _remove(el) -> None:
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)


def unwrap(el) -> None:
    """Replace ``el`` by its children."""
    parent = el.getparent()
    index = parent.index(el)
    for child in list(el):
        parent.insert(index, child)
        index += 1
    parent.remove(el)


def _prefixed(tag: str) -> str:
    return "w:" + tag.rsplit("}", 1)[-1]


def describe(counts: Iterable[Tuple[str, int]]) -> str:
    return ", ".join(f"{n} {tag}" for tag, n in sorted(counts))
