"""Command line: anonymize files, folders or stdin with an ``en_legal_anon`` pipeline.

    legal-anon anonymize INPUT... [-m MODEL] [-o OUT] [-f text,json,tab,html]
    python -m legal_anon anonymize judgments/ -o out/ --batch-size 16 --n-process 2
    cat judgment.txt | legal-anon -           # anonymized text on stdout
    legal-anon assemble training/bilstm_crf/model-best training/en_legal_anon --operator PERSON=pseudonym

Inputs: ``.txt`` (one document per file), ``.jsonl`` (one object per line with a
``text`` key and an optional ``doc_id``/``id``), TAB JSON (a list of ``{doc_id, text,
...}``); folders are searched recursively for these; ``-`` reads stdin (format guessed).

Outputs (``-o OUT``; without it the first format goes to stdout):
  text  OUT/text/<doc_id>.txt          the anonymized text
  json  OUT/spans.jsonl                per document: anonymized text, detected entities and
                                       replacements with original and new offsets
  tab   OUT/tab_predictions.json       TAB format {doc_id: [[start, end], ...]} (masked spans)
  html  OUT/html/<doc_id>.html + index displaCy rendering with the masked spans highlighted

A bad file (unreadable, not UTF-8, invalid JSON, no text) is reported and skipped; the
others are processed. Exit status: 0 all good, 1 some inputs failed, 2 usage/model error.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

FORMATS = ("text", "json", "tab", "html")
INPUT_SUFFIXES = {".txt": "txt", ".text": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "tab"}
DEFAULT_MODEL = "en_legal_anon"
EXIT_OK, EXIT_INPUT_ERRORS, EXIT_USAGE = 0, 1, 2
LABEL_COLORS = {
    "PERSON": "#f4a6a6", "CODE": "#f7d08a", "LOC": "#9fd5a8", "ORG": "#a9c8f0",
    "DEM": "#d7b8f0", "DATETIME": "#f0e28a", "QUANTITY": "#b8e6e6", "MISC": "#dddddd",
}


class InputError(Exception):
    """A file that cannot be read as documents."""


@dataclass
class InputDoc:
    doc_id: str
    text: str
    source: str


@dataclass
class RunStats:
    files_ok: int = 0
    files_failed: List[Tuple[str, str]] = field(default_factory=list)
    docs: int = 0
    split_docs: int = 0
    words: int = 0
    chars: int = 0
    labels: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.perf_counter)

    def as_dict(self) -> dict:
        wall = time.perf_counter() - self.started
        return {
            "files_ok": self.files_ok,
            "files_failed": len(self.files_failed),
            "failed": [{"path": p, "error": e} for p, e in self.files_failed],
            "docs": self.docs,
            "docs_split": self.split_docs,
            "words": self.words,
            "chars": self.chars,
            "replacements_by_label": dict(self.labels),
            "replacements_by_source": dict(self.sources),
            "wall_s": round(wall, 3),
            "words_per_s": round(self.words / wall, 1) if wall > 0 else None,
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children (Linux: KiB)."""
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (self_kb + child_kb) / 1024.0


# --------------------------------------------------------------------------- inputs


def expand_inputs(paths: Sequence[str]) -> List[Tuple[str, Optional[Path], Optional[Path]]]:
    """(display name, file path or None for stdin, root folder for relative ids)."""
    out = []
    for p in paths:
        if p == "-":
            out.append(("<stdin>", None, None))
            continue
        path = Path(p)
        if path.is_dir():
            files = sorted(
                f for f in path.rglob("*")
                if f.is_file() and f.suffix.lower() in INPUT_SUFFIXES
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
            out.extend((str(f), f, path) for f in files)
        else:
            out.append((str(path), path, None))
    return out


def guess_format(text: str) -> str:
    stripped = text.lstrip()
    if stripped.startswith("["):
        return "tab"
    if stripped.startswith("{"):
        first = stripped.split("\n", 1)[0]
        try:
            json.loads(first)
            return "jsonl"
        except json.JSONDecodeError:
            return "tab"
    return "txt"


def _doc_from_obj(obj, where: str, default_id: str, text_key: str) -> InputDoc:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if text_key not in obj:
        raise InputError(f"{where}: no {text_key!r} key")
    if not isinstance(obj[text_key], str):
        raise InputError(f"{where}: {text_key!r} is not a string")
    doc_id = obj.get("doc_id", obj.get("id", default_id))
    return InputDoc(str(doc_id), obj[text_key], "")


def read_documents(name: str, path: Optional[Path], root: Optional[Path], fmt: str, text_key: str) -> List[InputDoc]:
    """All documents of one input; raises InputError for anything wrong with it."""
    try:
        raw = sys.stdin.buffer.read() if path is None else path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte {e.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if fmt == "auto":
        fmt = INPUT_SUFFIXES.get(path.suffix.lower()) if path is not None else None
        fmt = fmt or guess_format(text)
    if path is None:
        base_id = "stdin"
    elif root is not None:
        base_id = str(path.relative_to(root).with_suffix(""))
    else:
        base_id = path.stem
    if fmt == "txt":
        return [InputDoc(base_id, text, name)]
    if fmt == "jsonl":
        docs = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"line {lineno}: invalid JSON ({e.msg}, column {e.colno})") from None
            doc = _doc_from_obj(obj, f"line {lineno}", f"{base_id}:{lineno}", text_key)
            doc.source = name
            docs.append(doc)
        return docs
    if fmt == "tab":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
        if isinstance(data, dict) and text_key in data:
            data = [data]
        if not isinstance(data, list):
            raise InputError(f"expected a list of documents (TAB JSON), got {type(data).__name__}")
        docs = []
        for i, obj in enumerate(data):
            doc = _doc_from_obj(obj, f"document #{i}", f"{base_id}:{i}", text_key)
            doc.source = name
            docs.append(doc)
        return docs
    raise InputError(f"unknown input format {fmt!r}")


def count_documents(inputs, fmt: str, text_key: str) -> Optional[int]:
    """Cheap pre-count for the progress bar (None if stdin is among the inputs)."""
    total = 0
    for name, path, root in inputs:
        if path is None:
            return None
        kind = fmt if fmt != "auto" else INPUT_SUFFIXES.get(path.suffix.lower(), "txt")
        try:
            if kind == "txt":
                total += 1
            elif kind == "jsonl":
                with path.open("rb") as f:
                    total += sum(1 for line in f if line.strip())
            else:
                data = json.loads(path.read_bytes())
                total += len(data) if isinstance(data, list) else 1
        except Exception:
            continue
    return total


# --------------------------------------------------------------------------- outputs


def safe_name(doc_id: str, used: set) -> str:
    base = re.sub(r"[^\w.\-]+", "_", doc_id).strip("._")[:150] or "doc"
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}__{k}"
    used.add(name)
    return name


def render_html(doc_id: str, text: str, replacements: List[dict], anonymized: str, standalone: bool = True) -> str:
    from spacy import displacy

    ents = [
        {"start": r["start"], "end": r["end"],
         "label": r["label"] if r["source"] == "ner" else f"{r['label']} ({r['source']})"}
        for r in replacements
    ]
    colors = {}
    for e in ents:
        base = e["label"].split(" ")[0]
        colors[e["label"]] = LABEL_COLORS.get(base, "#dddddd")
    markup = displacy.render(
        {"text": text, "ents": ents, "title": None}, style="ent", manual=True,
        options={"colors": colors}, page=False, jupyter=False,
    )
    n_by_label = Counter(r["label"] for r in replacements)
    stats = ", ".join(f"{k}: {v}" for k, v in sorted(n_by_label.items())) or "none"
    body = (
        f"<h2>{html.escape(doc_id)}</h2>"
        f"<p class='meta'>{len(replacements)} masked spans ({html.escape(stats)})</p>"
        f"<h3>Detected spans</h3>{markup}"
        f"<h3>Anonymized</h3><pre class='anon'>{html.escape(anonymized)}</pre>"
    )
    if not standalone:
        return body
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(doc_id)} - legal_anon</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "pre.anon{white-space:pre-wrap;background:#f6f6f6;padding:1em;line-height:1.6}"
        ".meta{color:#555}</style></head><body>"
        f"{body}</body></html>"
    )


class OutputWriter:
    def __init__(self, out_dir: Optional[Path], formats: Sequence[str], span_text: bool):
        self.out_dir = out_dir
        self.formats = list(formats)
        self.span_text = span_text
        self.used_names: set = set()
        self.tab: Dict[str, List[List[int]]] = {}
        self.index: List[Tuple[str, str]] = []
        self.html_parts: List[str] = []
        self._jsonl = None
        self._stdout_first = True
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            if "json" in self.formats:
                self._jsonl = (out_dir / "spans.jsonl").open("w", encoding="utf8")
            if "text" in self.formats:
                (out_dir / "text").mkdir(exist_ok=True)
            if "html" in self.formats:
                (out_dir / "html").mkdir(exist_ok=True)

    def record(self, item: InputDoc, doc) -> dict:
        reps = doc._.anon_replacements or []
        anonymized = doc._.anonymized if doc._.anonymized is not None else doc.text
        doc_id = item.doc_id
        if doc_id in self.tab:
            k = 2
            while f"{doc_id}#{k}" in self.tab:
                k += 1
            doc_id = f"{doc_id}#{k}"
        self.tab[doc_id] = [[r["start"], r["end"]] for r in reps]
        record = {
            "doc_id": doc_id,
            "source": item.source,
            "anonymized": anonymized,
            "entities": [
                {"start": e.start_char, "end": e.end_char, "label": e.label_,
                 **({"text": e.text} if self.span_text else {})}
                for e in doc.ents
            ],
            "replacements": [
                r if self.span_text else {k: v for k, v in r.items() if k != "text"} for r in reps
            ],
        }
        name = safe_name(doc_id, self.used_names)
        if self.out_dir is None:
            self._to_stdout(record, item, doc, reps, anonymized)
            return record
        if "text" in self.formats:
            (self.out_dir / "text" / f"{name}.txt").write_text(anonymized, encoding="utf8")
        if self._jsonl is not None:
            self._jsonl.write(json.dumps(record, ensure_ascii=False) + "\n")
        if "html" in self.formats:
            page = render_html(doc_id, doc.text, reps, anonymized)
            (self.out_dir / "html" / f"{name}.html").write_text(page, encoding="utf8")
            self.index.append((doc_id, f"{name}.html"))
        return record

    def _to_stdout(self, record, item, doc, reps, anonymized) -> None:
        fmt = self.formats[0]
        if fmt == "text":
            if not self._stdout_first:
                sys.stdout.write("\n")
            sys.stdout.write(anonymized)
            if not anonymized.endswith("\n"):
                sys.stdout.write("\n")
        elif fmt == "json":
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif fmt == "html":
            self.html_parts.append(render_html(record["doc_id"], doc.text, reps, anonymized, standalone=False))
        self._stdout_first = False
        sys.stdout.flush()

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        if self.out_dir is None:
            if self.formats[0] == "tab":
                sys.stdout.write(json.dumps(self.tab, ensure_ascii=False) + "\n")
            elif self.formats[0] == "html":
                sys.stdout.write(
                    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>legal_anon</title></head><body>"
                    + "<hr>".join(self.html_parts) + "</body></html>\n"
                )
            return
        if "tab" in self.formats:
            with (self.out_dir / "tab_predictions.json").open("w", encoding="utf8") as f:
                json.dump(self.tab, f, ensure_ascii=False)
        if "html" in self.formats:
            links = "".join(
                f"<li><a href='{html.escape(fn)}'>{html.escape(d)}</a></li>" for d, fn in self.index
            )
            (self.out_dir / "html" / "index.html").write_text(
                "<!DOCTYPE html><html><head><meta charset='utf-8'><title>legal_anon output</title></head>"
                f"<body><h1>Anonymized documents ({len(self.index)})</h1><ul>{links}</ul></body></html>",
                encoding="utf8",
            )


# --------------------------------------------------------------------------- pipeline


def parse_operators(items: Sequence[str]) -> Dict[str, str]:
    ops = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--operator expects LABEL=OPERATOR, got {item!r}")
        label, op = item.split("=", 1)
        ops[label.strip()] = op.strip()
    return ops


def anonymizer_config(args) -> dict:
    cfg = {}
    if getattr(args, "default_operator", None):
        cfg["default_operator"] = args.default_operator
    ops = parse_operators(getattr(args, "operator", None) or [])
    if ops:
        cfg["operators"] = ops
    if getattr(args, "salt_env", None):
        cfg["salt_env"] = args.salt_env
    if getattr(args, "salt_file", None):
        cfg["salt_file"] = args.salt_file
    if getattr(args, "spans_key", None):
        cfg["spans_key"] = args.spans_key
    if getattr(args, "min_length", None):
        cfg["min_length"] = args.min_length
    if getattr(args, "no_occurrences", False):
        cfg["mask_all_occurrences"] = False
    return cfg


def set_mask_threshold(nlp, value: Optional[str]) -> None:
    """--mask-threshold: a probability, 'off', or None (keep the pipeline's setting)."""
    if value is None:
        return
    from legal_anon.crf_ner import find_crf_tagger

    tagger = find_crf_tagger(nlp)
    if tagger is None:
        raise ValueError("--mask-threshold needs a pipeline with a CRF tagger (bilstm_crf_ner or crf_ner)")
    if value == "off":
        tagger.mask_threshold = None
        return
    try:
        tagger.mask_threshold = float(value)
    except ValueError:
        raise ValueError(f"--mask-threshold expects a probability in (0, 1] or 'off', got {value!r}") from None


def load_pipeline(model: str, args):
    """Load the model and make sure it ends with a configured anonymizer."""
    import spacy
    import legal_anon.anonymizer  # noqa: F401  (registers the factory)
    from legal_anon.anonymizer import load_salt

    nlp = spacy.load(model)
    set_mask_threshold(nlp, getattr(args, "mask_threshold", None))
    cfg = anonymizer_config(args)
    names = [n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "anonymizer"]
    if not names:
        nlp.add_pipe("anonymizer", config=cfg)
    else:
        anon = nlp.get_pipe(names[0])
        if "salt_env" in cfg:
            anon.salt_env = cfg["salt_env"]
        if "salt_file" in cfg:
            anon.salt_file = cfg["salt_file"]
        if "default_operator" in cfg:
            anon.default_operator = cfg["default_operator"]
            anon._validate()
        if "min_length" in cfg:
            anon.min_length = cfg["min_length"]
        if "spans_key" in cfg:
            anon.spans_key = cfg["spans_key"]
        if "mask_all_occurrences" in cfg:
            anon.mask_all_occurrences = False
        if anon.uses_hash and not anon._salt:
            anon.set_salt(load_salt(anon.salt_env, anon.salt_file))
        for label, op in cfg.get("operators", {}).items():
            anon.set_operator(label, op)
        if anon.uses_hash and not anon._salt:
            from legal_anon.anonymizer import MissingSaltError
            raise MissingSaltError(anon._missing_salt_message())
    return nlp


def run_anonymize(args) -> int:
    from tqdm import tqdm
    from legal_anon.split_long import pipe_long

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        print(f"legal-anon: unknown output format(s) {bad}; choose from {', '.join(FORMATS)}", file=sys.stderr)
        return EXIT_USAGE
    inputs = expand_inputs(args.inputs)
    if not inputs:
        print("legal-anon: no input files found", file=sys.stderr)
        return EXIT_USAGE
    try:
        nlp = load_pipeline(args.model, args)
    except Exception as e:  # model not found, bad operator, missing salt
        print(f"legal-anon: cannot load pipeline {args.model!r}: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.max_length:
        nlp.max_length = args.max_length
    stats = RunStats()
    writer = OutputWriter(Path(args.output) if args.output else None, formats, not args.no_span_text)
    total = count_documents(inputs, args.input_format, args.text_key)
    bar = tqdm(total=total, unit="doc", file=sys.stderr, disable=args.quiet, dynamic_ncols=True,
               desc="anonymizing")

    def report_bad(name: str, error: str) -> None:
        stats.files_failed.append((name, error))
        msg = f"legal-anon: skipped {name}: {error}"
        if args.quiet:
            print(msg, file=sys.stderr)
        else:
            bar.write(msg, file=sys.stderr)

    def stream() -> Iterator[Tuple[str, InputDoc]]:
        for name, path, root in inputs:
            try:
                docs = read_documents(name, path, root, args.input_format, args.text_key)
            except InputError as e:
                report_bad(name, str(e))
                continue
            stats.files_ok += 1
            for d in docs:
                if len(d.text) > nlp.max_length:
                    stats.split_docs += 1
                yield d.text, d

    try:
        for doc, item in pipe_long(nlp, stream(), as_tuples=True, batch_size=args.batch_size,
                                   n_process=args.n_process):
            writer.record(item, doc)
            stats.docs += 1
            stats.words += sum(1 for t in doc if not t.is_space)
            stats.chars += len(doc.text)
            for r in doc._.anon_replacements or []:
                stats.labels[r["label"]] += 1
                stats.sources[r["source"]] += 1
            bar.update(1)
    finally:
        bar.close()
        writer.close()
    summary = stats.as_dict()
    summary.update({"model": args.model, "batch_size": args.batch_size, "n_process": args.n_process,
                    "output": args.output, "formats": formats})
    print_summary(summary)
    if args.summary_json:
        Path(args.summary_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary_json).write_text(json.dumps(summary, indent=2), encoding="utf8")
    return EXIT_INPUT_ERRORS if stats.files_failed else EXIT_OK


def print_summary(s: dict) -> None:
    err = sys.stderr
    print("", file=err)
    print("legal-anon summary", file=err)
    print(f"  files:     {s['files_ok']} processed, {s['files_failed']} failed", file=err)
    print(f"  documents: {s['docs']} ({s['docs_split']} split for length), {s['words']} words, {s['chars']} chars", file=err)
    by_label = ", ".join(f"{k} {v}" for k, v in sorted(s["replacements_by_label"].items())) or "none"
    by_source = ", ".join(f"{k} {v}" for k, v in sorted(s["replacements_by_source"].items())) or "none"
    print(f"  masked:    {sum(s['replacements_by_label'].values())} spans ({by_label}); by source: {by_source}", file=err)
    print(f"  time:      {s['wall_s']:.2f} s, {s['words_per_s'] or 0:.0f} words/s, peak memory {s['peak_rss_mb']:.0f} MB", file=err)
    if s["output"]:
        print(f"  output:    {s['output']} ({', '.join(s['formats'])})", file=err)
    for f in s["failed"]:
        print(f"  FAILED:    {f['path']}: {f['error']}", file=err)


def run_assemble(args) -> int:
    """Add (or reconfigure) the anonymizer after a trained NER and save the pipeline."""
    import spacy
    import legal_anon.anonymizer  # noqa: F401

    nlp = spacy.load(args.model)
    cfg = anonymizer_config(args)
    for name in [n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "anonymizer"]:
        nlp.remove_pipe(name)
    nlp.add_pipe("anonymizer", config=cfg, last=True)
    if args.name:
        nlp.meta["name"] = args.name
    if args.version:
        nlp.meta["version"] = args.version
    out = Path(args.output)
    nlp.to_disk(out)
    print(f"legal-anon: saved {out} with pipeline {nlp.pipe_names} "
          f"(anonymizer operators: {cfg.get('operators', {})}, default {cfg.get('default_operator', 'replace')})")
    return EXIT_OK


# --------------------------------------------------------------------------- argparse


def _add_operator_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--operator", action="append", metavar="LABEL=OP",
                   help="per-label operator: replace, pseudonym, mask, redact, hash, keep (repeatable)")
    p.add_argument("--default-operator", default=None, help="operator for other labels (default: replace)")
    p.add_argument("--salt-env", default=None, help="environment variable holding the hash salt (default LEGAL_ANON_SALT)")
    p.add_argument("--salt-file", default=None, help="file holding the hash salt (never stored with the output)")
    p.add_argument("--spans-key", default=None, help="read spans from doc.spans[KEY] instead of doc.ents")
    p.add_argument("--min-length", type=int, default=None, help="shortest surface string propagated/checked (default 3)")
    p.add_argument("--no-occurrences", action="store_true", help="do not mask other occurrences of masked strings")
    p.add_argument("--mask-threshold", default=None, metavar="P|off",
                   help="recall control of the CRF tagger: also mask tokens whose probability of being inside "
                        "an entity is >= P ('off': doc.ents only; default: as configured in the pipeline)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="legal-anon", description="Find and mask identifying information in legal documents.")
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("anonymize", help="anonymize files, folders or stdin",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("inputs", nargs="+", help="files, folders, or - for stdin")
    a.add_argument("-m", "--model", default=os.environ.get("LEGAL_ANON_MODEL", DEFAULT_MODEL),
                   help=f"pipeline name or path (default {DEFAULT_MODEL} or $LEGAL_ANON_MODEL)")
    a.add_argument("-o", "--output", default=None, help="output folder (default: stdout)")
    a.add_argument("-f", "--format", default="text,json,tab,html",
                   help="comma-separated: text, json, tab, html (stdout: the first one)")
    a.add_argument("--input-format", default="auto", choices=("auto", "txt", "jsonl", "tab"))
    a.add_argument("--text-key", default="text", help="JSON key holding the text")
    a.add_argument("-b", "--batch-size", type=int, default=16)
    a.add_argument("-n", "--n-process", type=int, default=1)
    a.add_argument("--max-length", type=int, default=None,
                   help="split documents longer than this many characters (default nlp.max_length)")
    a.add_argument("--no-span-text", action="store_true", help="leave the original span text out of spans.jsonl")
    a.add_argument("--summary-json", default=None, help="also write the run summary as JSON")
    a.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_operator_args(a)
    a.set_defaults(func=run_anonymize)

    s = sub.add_parser("assemble", help="add the anonymizer to a trained NER pipeline and save it")
    s.add_argument("model", help="trained pipeline (e.g. training/bilstm_crf/model-best)")
    s.add_argument("output", help="where to save the pipeline with the anonymizer")
    s.add_argument("--name", default=None, help="meta name (e.g. legal_anon)")
    s.add_argument("--version", default=None, help="meta version")
    _add_operator_args(s)
    s.set_defaults(func=run_assemble)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in ("anonymize", "assemble", "-h", "--help"):
        argv.insert(0, "anonymize")  # `legal-anon FILES...` means anonymize
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("legal-anon: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
