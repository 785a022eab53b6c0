"""HTML pages of the command line's outputs: one page skeleton, two kinds of page.

* ``anonymized_page``: the anonymized text with its replacements highlighted (displaCy,
  over the *anonymized* text): safe to share with the anonymized output.
* ``review_page``: the original text with the masked spans highlighted, for a reviewer.
  It carries the original identifiers, so it is only written to the review folder and
  says so in a banner.
"""
from __future__ import annotations

import html
from collections import Counter
from typing import Dict, List, Optional

LABEL_COLORS = {
    "PERSON": "#f4a6a6", "CODE": "#f7d08a", "LOC": "#9fd5a8", "ORG": "#a9c8f0",
    "DEM": "#d7b8f0", "DATETIME": "#f0e28a", "QUANTITY": "#b8e6e6", "MISC": "#dddddd",
}
REVIEW_WARNING = ("REVIEW MATERIAL: this page shows the ORIGINAL text with the identifiers it masks. "
                  "It is not anonymized: do not publish or share it as anonymized output.")
_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1100px}"
          "pre.anon{white-space:pre-wrap;background:#f6f6f6;padding:1em;line-height:1.6}"
          ".meta{color:#555}.warning{background:#b00020;color:#fff;padding:.8em;font-weight:bold}")


def page(title: str, body: str, warning: Optional[str] = None) -> str:
    """The one page skeleton: a standalone HTML document, with an optional warning banner."""
    banner = f"<p class='warning'>{html.escape(warning)}</p>" if warning else ""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)} - legal_anon</title><style>{_STYLE}</style></head>"
            f"<body>{banner}{body}{banner}</body></html>")


def _marked(text: str, spans: List[Dict]) -> str:
    from spacy import displacy

    colors = {s["label"]: LABEL_COLORS.get(s["label"].split(" ")[0], "#dddddd") for s in spans}
    return displacy.render({"text": text, "ents": spans, "title": None}, style="ent", manual=True,
                           options={"colors": colors}, page=False, jupyter=False)


def _stats(replacements: List[Dict]) -> str:
    by_label = Counter(r["label"] for r in replacements)
    return ", ".join(f"{k}: {v}" for k, v in sorted(by_label.items())) or "none"


def anonymized_body(doc_id: str, anonymized: str, replacements: List[Dict]) -> str:
    """The anonymized text, each replacement highlighted with its label (no original text)."""
    spans = [{"start": r["new_start"], "end": r["new_end"], "label": r["label"]}
             for r in replacements if r["new_end"] > r["new_start"]]
    return (f"<h2>{html.escape(doc_id)}</h2>"
            f"<p class='meta'>{len(replacements)} masked spans ({html.escape(_stats(replacements))})</p>"
            f"{_marked(anonymized, spans)}")


def anonymized_page(doc_id: str, anonymized: str, replacements: List[Dict]) -> str:
    return page(doc_id, anonymized_body(doc_id, anonymized, replacements))


def review_page(doc_id: str, original: str, anonymized: str, replacements: List[Dict]) -> str:
    """The original with the masked spans highlighted (source marked), then the output."""
    spans = [{"start": r["start"], "end": r["end"],
              "label": r["label"] if r["source"] == "ner" else f"{r['label']} ({r['source']})"}
             for r in replacements]
    body = (f"<h2>{html.escape(doc_id)}</h2>"
            f"<p class='meta'>{len(replacements)} masked spans ({html.escape(_stats(replacements))})</p>"
            f"<h3>Masked spans in the original</h3>{_marked(original, spans)}"
            f"<h3>Anonymized</h3><pre class='anon'>{html.escape(anonymized)}</pre>")
    return page(f"REVIEW {doc_id}", body, warning=REVIEW_WARNING)


def index_page(title: str, links: List[tuple], warning: Optional[str] = None) -> str:
    items = "".join(f"<li><a href='{html.escape(href)}'>{html.escape(label)}</a></li>" for label, href in links)
    return page(title, f"<h1>{html.escape(title)} ({len(links)})</h1><ul>{items}</ul>", warning)
