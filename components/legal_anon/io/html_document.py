"""HTML in, HTML out: a judgment page anonymized in place, markup and attributes kept.

Court sites publish judgments as HTML. The pipeline reads the page's text in reading order
(``legal_anon.io.text_map``): text nodes, the ``<title>``, the ``content`` of descriptive
``<meta>`` tags, ``alt`` and ``title`` attributes and comments, with paragraph breaks
between blocks; ``<script>``, ``<style>`` and ``<template>`` are not read. Each masked span is
replaced in the node it came from. Then the whole page is checked, as the anonymizer checks
its text: any other place that still holds a protected string (an ``href`` or ``src``, an
``id``, a ``data-*`` attribute, a script) is scrubbed - a link or source holding one is
removed, other values and scripts have the string replaced by ``[MASKED]`` - and the
serialized file is checked once more; ``AnonymizationError`` if anything survives.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Union
from urllib.parse import unquote

from lxml import etree, html as lxml_html

from legal_anon.io.text_map import TextMap, anonymize_mapped
from legal_anon.pipeline.anonymizer import AnonymizationError
from legal_anon.pipeline.protected import ProtectedStrings, masked_value

NOT_READ = {"script", "style", "template"}
READ_ATTRIBUTES = ("alt", "title")
# <meta name=...> whose content is not about the document's subject (technical settings)
TECHNICAL_META = {"viewport", "robots", "generator", "referrer", "theme-color", "color-scheme", "format-detection"}
LINK_ATTRIBUTES = ("href", "src", "action", "cite", "srcset", "poster", "data")
BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hr", "li", "main", "nav", "ol", "p",
    "pre", "section", "table", "td", "th", "title", "tr", "ul", "meta", "img",
}
SCRUBBED = "[MASKED]"
_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", re.IGNORECASE)


@dataclass
class HtmlResult:
    html: bytes  # the anonymized page
    text: str  # the text the pipeline read (offsets of the replacements refer to it)
    anonymized: str  # that text, anonymized
    replacements: List[dict]
    scrubbed: int  # places outside the read text that held a protected string


def read_text(tree) -> TextMap:
    """The page's text in reading order, each piece tied to the node it came from."""
    tmap = TextMap()

    def setter(el, field: str):
        if field == "text":
            return lambda v: setattr(el, "text", v)
        if field == "tail":
            return lambda v: setattr(el, "tail", v)
        return lambda v: el.set(field, v)

    def walk(el) -> None:
        tag = el.tag if isinstance(el.tag, str) else None
        if tag is None:  # a comment or processing instruction: its text is in the file too
            if isinstance(el, etree._Comment):
                tmap.add_break()
                tmap.add(el.text or "", setter(el, "text"))
                tmap.add_break()
            return
        tag = tag.lower()
        block = tag in BLOCKS
        if block:
            tmap.add_break()
        for attr in READ_ATTRIBUTES:
            if el.get(attr):
                tmap.add_break()
                tmap.add(el.get(attr), setter(el, attr))
                tmap.add_break()
        if tag == "meta" and el.get("content") and not el.get("http-equiv") and not el.get("charset") and \
                (el.get("name") or el.get("property") or "").lower() not in TECHNICAL_META:
            tmap.add(el.get("content"), setter(el, "content"))
        if tag not in NOT_READ:
            tmap.add(el.text or "", setter(el, "text"))
            for child in el:
                walk(child)
                tmap.add(child.tail or "", setter(child, "tail"))
        if block:
            tmap.add_break()

    walk(tree.getroot())
    return tmap


def scrub(tree, protected: ProtectedStrings) -> int:
    """Protected strings outside the read text - matched ignoring case and URL escapes,
    since "/people/yalman" names Mr Yalman too: links removed, other values masked."""
    lower = ProtectedStrings()
    for s in protected:
        lower.add(s.lower(), None, whole_word=protected.is_whole_word(s))
    count = 0
    for el in tree.getroot().iter():
        if not isinstance(el.tag, str):
            continue
        for attr, value in list(el.attrib.items()):
            if not lower.leaks(unquote(value).lower()):
                continue
            count += 1
            if attr.lower() in LINK_ATTRIBUTES:
                del el.attrib[attr]  # an identifying URL: the link goes, its text is masked already
            else:
                el.set(attr, _masked(value, lower))
        if el.tag.lower() in NOT_READ and el.text and lower.leaks(el.text.lower()):
            el.text = _masked(el.text, lower)
            count += 1
    return count


def _masked(value: str, lower: ProtectedStrings) -> str:
    return masked_value(value, lower, SCRUBBED, lambda v: bool(lower.leaks(unquote(v).lower())))


def declared_encoding(data: bytes) -> str:
    """The charset a page declares (BOM or <meta charset>), else UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    m = _CHARSET.search(data[:4096])
    return m.group(1).decode("ascii").lower() if m else "utf-8"


def anonymize_html(nlp, source: Union[bytes, str, Path], out_path: Optional[Path] = None) -> HtmlResult:
    """Anonymize an HTML page with ``nlp`` (its anonymizer, added if missing); write the
    page to ``out_path`` (atomically) when given. Raises ``AnonymizationError`` rather than
    return a page that still holds a protected string."""
    data = Path(source).read_bytes() if isinstance(source, Path) else source
    if isinstance(data, str):
        data = data.encode("utf8")
    if not data.strip():
        raise ValueError("not an HTML document: the file is empty")
    if b"\x00" in data[:4096]:
        raise ValueError("not an HTML document: binary data (NUL bytes)")
    encoding = declared_encoding(data)
    tree = lxml_html.parse(io.BytesIO(data), parser=lxml_html.HTMLParser(encoding=encoding))
    if tree.getroot() is None:
        raise ValueError("not an HTML document: nothing to parse")
    doc, replacements, protected = anonymize_mapped(nlp, read_text(tree))
    scrubbed = scrub(tree, protected) if len(protected) else 0
    out = etree.tostring(tree, method="html", encoding=encoding, doctype=tree.docinfo.doctype or None)
    if len(protected):
        check = lxml_html.parse(io.BytesIO(out), parser=lxml_html.HTMLParser(encoding=encoding))
        values = [out.decode(encoding, errors="replace")] + [v for el in check.getroot().iter() if isinstance(el.tag, str)
                                                              for v in [el.text or "", el.tail or "", *el.attrib.values()]]
        found = [m for v in values for m in protected.leaks(v)]
        if found:
            raise AnonymizationError(f"the anonymized page still holds {len(found)} protected string(s)")
    if out_path is not None:
        from legal_anon.io.atomic import write_atomic

        write_atomic(Path(out_path), out)
    return HtmlResult(out, doc.text, doc._.anonymized, replacements, scrubbed)
