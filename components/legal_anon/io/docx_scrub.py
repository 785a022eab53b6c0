"""The last line of defence of a Word file: no protected string anywhere in its XML.

After the masked text is written back, every XML part of the package is searched for the
document's protected strings (``Anonymizer.protected_strings``) in the places the pipeline did
not read: attribute values (bookmark names, content-control tags, smart-tag values, field
data), text of elements it does not read (app properties, custom property names, schemas)
and external relationship targets. As in ``html_document``, a match ignores case and URL
escapes ("/people/yalman" names Mr Yalman too). A hyperlink whose URL holds one is removed
(its text, masked already, stays); another reference to such a URL goes with its element;
any other value has the string replaced by ``[MASKED]`` (``MASKED`` in bookmark and anchor
names, which Word allows only letters, digits and underscores in).

``leaks_in_package`` then reads the saved bytes back, every XML part of the zip, and lists
what survives, case-sensitively, as the anonymizer checks its text. Values that are markup,
not text - a number, a measure, an 8-digit hex id (``w:rsidR``, ``w14:paraId``), an ISO date or the URI
of a standard (a relationship type, a schema),
as an attribute or as the whole text of an element that holds no document text - are not
searched: a masked year "1998" is not a leak in ``w:w="1998"`` (a width in twips) or in
``<Pages>1998</Pages>``; a run's ``<w:t>1998</w:t>`` is.
"""
from __future__ import annotations

import html
import io
import re
import zipfile
from typing import List, Set, Tuple
from urllib.parse import unquote

from docx.opc.packuri import PackURI
from docx.opc.part import XmlPart
from docx.oxml.ns import qn
from lxml import etree

from legal_anon.io.docx_parts import references_by_rel, unwrap
from legal_anon.io.docx_text import TEXT_TAGS, node_text, set_node_text
from legal_anon.pipeline.protected import ProtectedStrings, masked_value

SCRUBBED = "[MASKED]"
NAME_ATTRIBUTES = {qn("w:name"), qn("w:anchor")}
# elements whose text is document text: searched whatever it looks like (a run "1998")
DOCUMENT_TEXT = TEXT_TAGS | {qn("w:instrText"), qn("w:delText"), qn("w:delInstrText")}
MARKUP_VALUE = re.compile(
    r"\s*(?:[-+]?\d+(?:\.\d+)?(?:pt|in|cm|mm|pc|pi|em|emu|%)?"  # a number or a measure
    r"|[0-9A-Fa-f]{8}"  # a revision or paragraph id
    r"|\d{4}-\d\d-\d\d(?:T[\d:.]+(?:Z|[-+]\d\d:\d\d)?)?)\s*")  # an ISO date


# the identifiers of the standards a package is written in (relationship types, namespaces,
# schema references): "http://schemas.openxmlformats.org/officeDocument/2006/relationships/..."
# is no leak of a masked year "2006"
STANDARD_URIS = ("http://schemas.openxmlformats.org/", "http://schemas.microsoft.com/", "http://purl.org/dc/",
                 "http://www.w3.org/XML/", "http://www.w3.org/2001/XMLSchema", "urn:schemas-microsoft-com:")


# an enumeration's token ("single", "center", "dotDash"): a common word that is protected only
# as a whole word ("single", a masked marital status) is no leak there, and masking it would
# leave Word an invalid value (w:u w:val="[MASKED]")
TOKEN = re.compile(r"[a-z][A-Za-z0-9]*")


def is_markup(value: str) -> bool:
    return MARKUP_VALUE.fullmatch(value) is not None or value.strip().startswith(STANDARD_URIS)


def own_text(el) -> str:
    """An element's own text node (a comment's or processing instruction's text)."""
    return node_text(el) if isinstance(el.tag, str) else (el.text or "")


def value_leaks(value: str, protected: ProtectedStrings, *, fold: bool = False,
                markup: bool = True) -> List[Tuple[int, int, str]]:
    """The protected strings in a value, URL escapes undone (and lower-cased with ``fold``, for
    the scrub). With ``markup`` (anything but document text): a markup value holds none, and an
    enumeration's token holds only strings that count anywhere (names, numbers)."""
    if markup and is_markup(value):
        return []
    found = protected.leaks(unquote(value).lower() if fold else unquote(value))
    if markup and found and TOKEN.fullmatch(value.strip()):
        found = [m for m in found if not protected.is_whole_word(m[2])]
    return found


_DECLARATIONS = re.compile(r'\sxmlns(?::[\w.-]+)?="[^"]*"'
                           r'|="(?:%s)[^"]*"' % "|".join(re.escape(u) for u in STANDARD_URIS))


def may_leak(xml: str, protected: ProtectedStrings, *, fold: bool = False) -> bool:
    """False when no value of this serialized part can hold a protected string: the whole
    text, its entities resolved (and URL escapes undone), holds none outside namespace
    declarations and standard URIs. The value-by-value search runs only where this is True."""
    flat = html.unescape(_DECLARATIONS.sub(" ", xml))
    if fold:
        flat = flat.lower()
    return bool(protected.leaks(flat) or ("%" in flat and protected.leaks(unquote(flat))))


def folded(protected: ProtectedStrings) -> ProtectedStrings:
    """The protected strings in lower case, for the scrub's case-insensitive search."""
    lower = ProtectedStrings()
    for s in protected:
        lower.add(s.lower(), None, whole_word=protected.is_whole_word(s))
    return lower


def scrub_package(package, protected: ProtectedStrings, read: Set[Tuple[object, str]]) -> Tuple[int, int]:
    """Scrub what the pipeline did not read (``read``: its (element, field) pairs).
    Returns (values scrubbed, hyperlinks removed)."""
    lower = folded(protected)
    scrubbed = hyperlinks = 0
    for n, part in enumerate(list(package.iter_parts()), 1):
        if value_leaks(part.partname, lower, fold=True, markup=False):  # "/word/embeddings/Yalman_statement.docx"
            part.partname = PackURI(f"{part.partname.baseURI}/masked{n}.{part.partname.ext}".replace("//", "/"))
            scrubbed += 1
        references = None
        for rId, rel in list(part.rels.items()):
            if not rel.is_external or not value_leaks(rel.target_ref, lower, fold=True, markup=False):
                continue
            if references is None:
                references = references_by_rel(part.element) if isinstance(part, XmlPart) else {}
            holders = references.get(rId, [])
            for el in holders:
                if el.tag == qn("w:hyperlink"):
                    unwrap(el)
                    hyperlinks += 1
                else:
                    el.getparent().remove(el)
                    scrubbed += 1
            if not holders:
                scrubbed += 1
            part.rels.pop(rId)
        if isinstance(part, XmlPart) and may_leak(etree.tostring(part.element, encoding="unicode"), lower, fold=True):
            scrubbed += scrub_element(part.element, lower, read)
    return scrubbed, hyperlinks


def scrub_element(root, lower: ProtectedStrings, read: Set[Tuple[object, str]]) -> int:
    count = 0
    for el in root.iter():
        text = own_text(el)
        markup = el.tag not in DOCUMENT_TEXT
        if text and (el, "text") not in read and value_leaks(text, lower, fold=True, markup=markup):
            if isinstance(el.tag, str):
                set_node_text(el, _masked(text, lower, SCRUBBED))
            else:  # a comment or processing instruction
                el.text = _masked(text, lower, SCRUBBED)
            count += 1
        if el.tail and value_leaks(el.tail, lower, fold=True, markup=False):
            el.tail = _masked(el.tail, lower, SCRUBBED)
            count += 1
        if not isinstance(el.tag, str):  # a comment or processing instruction
            continue
        for attr, value in list(el.attrib.items()):
            if (el, attr) in read or not value_leaks(value, lower, fold=True):
                continue
            el.set(attr, _masked(value, lower, "MASKED" if attr in NAME_ATTRIBUTES else SCRUBBED))
            count += 1
    return count


def _masked(value: str, lower: ProtectedStrings, mask: str) -> str:
    return masked_value(value, lower, mask, lambda v: value_leaks(v, lower, fold=True, markup=False))


def leaks_in_package(data: bytes, protected: ProtectedStrings) -> List[Tuple[str, str]]:
    """(part name, string) of every protected string left in an XML part of the saved
    package: text, tails, comments and attribute values (URL escapes undone), markup values
    aside, and in the name of any part. A part that does not parse is reported as a leak: it cannot be checked."""
    found = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            found.extend((name, s) for _, _, s in value_leaks(name, protected, markup=False))
            if not (name.endswith(".xml") or name.endswith(".rels")):
                continue
            raw = archive.read(name)
            try:
                if not may_leak(raw.decode("utf8"), protected):
                    continue
            except UnicodeDecodeError:  # another encoding: searched value by value
                pass
            try:
                root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, huge_tree=True))
            except etree.XMLSyntaxError:
                found.append((name, "(unreadable XML)"))
                continue
            for el in root.iter():
                values = [(own_text(el), el.tag not in DOCUMENT_TEXT), (el.tail or "", False)]
                if isinstance(el.tag, str):
                    values += [(v, True) for v in el.attrib.values()]
                found.extend((name, s) for v, markup in values if v
                             for _, _, s in value_leaks(v, protected, markup=markup))
    return found
