"""The ``legal-anon`` command line (typer, as spaCy's and weasel's are).

    legal-anon anonymize INPUT... [-m MODEL] [-o OUT] [-f text,json,tab,html,parquet] [--review-dir DIR]
    legal-anon anonymize judgment.docx page.html -o OUT   # also OUT/docx/judgment.docx, OUT/html_document/page.html
    legal-anon INPUT...                      # the same: anonymize is the default command
    cat judgment.txt | legal-anon -          # anonymized text on stdout
    legal-anon assemble training/bilstm_crf/model-best training/en_legal_anon --operator PERSON=pseudonym
    legal-anon review REVIEW_DIR --reviewer NAME   # check and correct the masks in a local web page

Reading (``legal_anon.io.sources``), running the pipeline (``legal_anon.engines.local``) and writing
(``legal_anon.io.sinks``) are separate jobs; this module parses options, loads the pipeline
with the anonymizer's options as config overrides, wires the three together and prints a
summary. Exit status: 0 all good, 1 some inputs or documents were not processed, 2 a usage,
model or output-folder error (a write that fails mid-run included: what was written is kept
and a rerun resumes), 130 interrupted (Ctrl-C: the same). A closed stdout (``| head``) ends
the run quietly.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer

from legal_anon.ctrl_c import abort_on_next_ctrl_c, handle_ctrl_c, on_main_thread
from legal_anon.engines.local import UsageError, parse_mask_threshold
from legal_anon.run_report import RunStats, print_stopped, print_summary

DEFAULT_MODEL = "en_legal_anon"
EXIT_OK, EXIT_INPUT_ERRORS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMANDS = ("anonymize", "assemble", "review")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Find and mask identifying information in legal documents.")


# --------------------------------------------------------------------------- pipeline


def parse_operators(items: List[str]) -> Dict[str, str]:
    ops = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--operator expects LABEL=OPERATOR, got {item!r}")
        label, op = item.split("=", 1)
        ops[label.strip()] = op.strip()
    return ops


def anonymizer_overrides(operator: List[str], default_operator: Optional[str], salt_env: Optional[str],
                         salt_file: Optional[str], spans_key: Optional[str], min_length: Optional[int],
                         no_occurrences: bool) -> Dict[str, Any]:
    """The anonymizer settings given on the command line, as config values."""
    cfg: Dict[str, Any] = {}
    ops = parse_operators(operator)
    if ops:
        cfg["operators"] = ops
    for key, value in (("default_operator", default_operator), ("salt_env", salt_env), ("salt_file", salt_file),
                       ("spans_key", spans_key), ("min_length", min_length)):
        if value is not None:
            cfg[key] = value
    if no_occurrences:
        cfg["mask_all_occurrences"] = False
    return cfg


# --------------------------------------------------------------------------- anonymize


@app.command("anonymize")
def anonymize(
    inputs: List[str] = typer.Argument(..., help="Files, folders (searched recursively) or - for stdin"),
    model: str = typer.Option(os.environ.get("LEGAL_ANON_MODEL", DEFAULT_MODEL), "--model", "-m",
                              help="Pipeline name or path (default en_legal_anon or $LEGAL_ANON_MODEL)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output folder (default: the first format on stdout)"),
    formats: str = typer.Option("text,json,tab", "--format", "-f", help="Comma-separated: text, json, tab, html, parquet"),
    review_dir: Optional[Path] = typer.Option(None, "--review-dir", help="ALSO write review material that shows the original identifiers (HTML of the original with the masked spans, spans with their text) to this folder, outside -o"),
    input_format: str = typer.Option("auto", "--input-format", help="auto, txt, jsonl, tab or parquet"),
    text_key: str = typer.Option("text", "--text-key", help="JSON key / Parquet column holding the text"),
    batch_size: int = typer.Option(16, "--batch-size", "-b", min=1),
    n_process: int = typer.Option(1, "--n-process", "-n", min=1),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Split documents longer than this many characters (default: the smaller of nlp.max_length and 100,000)"),
    max_chars: Optional[int] = typer.Option(5_000_000, "--max-chars", help="Do not process documents longer than this many characters (recorded in errors.jsonl; default 5,000,000: up to it a document peaks under ~1.5 GB, docs/scale.md; raise it to allow longer ones)"),
    summary_json: Optional[Path] = typer.Option(None, "--summary-json", help="Also write the run summary as JSON"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar"),
    operator: List[str] = typer.Option([], "--operator", metavar="LABEL=OP", help="Per-label operator: replace, pseudonym, mask, redact, hash, keep (repeatable)"),
    default_operator: Optional[str] = typer.Option(None, "--default-operator", help="Operator for other labels (default: replace)"),
    salt_env: Optional[str] = typer.Option(None, "--salt-env", help="Environment variable holding the hash salt (default LEGAL_ANON_SALT)"),
    salt_file: Optional[str] = typer.Option(None, "--salt-file", help="File holding the hash salt (never stored with the output)"),
    spans_key: Optional[str] = typer.Option(None, "--spans-key", help="Read spans from doc.spans[KEY] instead of doc.ents"),
    min_length: Optional[int] = typer.Option(None, "--min-length", help="Shortest surface string propagated/checked (default 3)"),
    no_occurrences: bool = typer.Option(False, "--no-occurrences", help="Do not mask other occurrences of masked strings"),
    mask_threshold: Optional[str] = typer.Option(None, "--mask-threshold", metavar="P|off", help="Recall control of the CRF tagger: also mask tokens whose probability of being inside an entity is >= P ('off': doc.ents only; default: as configured)"),
    engine: str = typer.Option("local", "--engine", help="local (this process; -n for spaCy's multiprocessing) or ray (Ray Data: a local cluster, or --ray-address)"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Join this Ray cluster (default: start a local one)"),
    workers: int = typer.Option(2, "--workers", min=1, help="Ray engine: actors, each with the pipeline loaded once"),
    overwrite: bool = typer.Option(False, "--overwrite", help="-o holds another pipeline's outputs (other model, weights, settings or salt): remove them and recompute everything, instead of refusing"),
    tracked_changes: str = typer.Option("refuse", "--tracked-changes", metavar="accept|refuse", help="Word files with tracked changes: refuse them (default: a deleted name stays in the file) or accept the changes before masking"),
    drop_media: bool = typer.Option(False, "--drop-media", help="Word files: remove embedded images and OLE objects (counted in each document's record either way)"),
    allow_macros: bool = typer.Option(False, "--allow-macros", help="Read macro-enabled Word files (.docm) instead of refusing them"),
):
    """Anonymize files, folders or stdin."""
    arguments = dict(locals())
    handle_ctrl_c()
    try:
        code = run_anonymize(**arguments)
    except KeyboardInterrupt:  # before the first document (loading the model, reading inputs, preparing -o)
        abort_on_next_ctrl_c()
        print("\nlegal-anon: interrupted before any document was written; rerun the same command to resume.",
              file=sys.stderr)
        code = EXIT_INTERRUPTED
    raise typer.Exit(code)


def run_anonymize(inputs, model, output, formats, review_dir, input_format, text_key, batch_size, n_process,
                  max_length, max_chars, summary_json, quiet, operator, default_operator, salt_env, salt_file,
                  spans_key, min_length, no_occurrences, mask_threshold, engine="local", ray_address=None,
                  workers=2, overwrite=False, tracked_changes="refuse", drop_media=False, allow_macros=False) -> int:
    from tqdm import tqdm

    from legal_anon.engines.local import (DocumentError, LocalEngine, check_recognizer, load_pipeline,
                                          pipeline_fingerprint)
    from legal_anon.io.documents import DocumentOptions, DocumentTally, document_inputs
    from legal_anon.io.sinks import DocumentWriter, OutputError, StdoutWriter, check_formats, finish
    from legal_anon.pipeline.split_long import piece_length
    from legal_anon.io.sources import FORMATS as INPUT_FORMATS
    from legal_anon.io.sources import count_documents, expand_inputs

    writer = None
    try:
        fmts = [f.strip() for f in formats.split(",") if f.strip()]
        check_formats(fmts, output, review_dir)
        if engine not in ("local", "ray"):
            raise UsageError(f"--engine must be local or ray, not {engine!r}")
        if (review_dir is not None or engine == "ray") and output is None:
            raise UsageError(f"{'--review-dir' if review_dir is not None else '--engine ray'} needs an output folder (-o)")
        if input_format not in INPUT_FORMATS:
            raise UsageError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}")
        items = expand_inputs(inputs)
        missing = [i.name for i in items if i.path is not None and i.error is None and not i.path.exists()]
        if not items or missing:
            raise UsageError(f"no such input: {', '.join(missing)}" if missing else "no input files found")
        options = DocumentOptions(tracked_changes, drop_media, allow_macros)
        structured = document_inputs(items, input_format)
        if structured and output is None:
            raise UsageError(f"{structured[0]} is a Word or HTML file: its anonymized copy needs an output folder (-o)")
        for folder, what in ((output, "output folder"), (review_dir, "review folder"),
                             (summary_json.parent if summary_json else None, "summary's folder")):
            if folder is not None:
                check_folder(folder, what)  # before the model loads: a bad folder costs nothing
        anonymizer = anonymizer_overrides(operator, default_operator, salt_env, salt_file, spans_key, min_length,
                                          no_occurrences)
        threshold = parse_mask_threshold(mask_threshold)
        nlp = load_pipeline(model, anonymizer, threshold)  # also checks the model, operators and salt here
        check_recognizer(nlp)
        if output is not None:
            writer = DocumentWriter(output, fmts, pipeline_fingerprint(nlp), review_dir)
            removed = writer.start_run(overwrite)  # refuses a folder of another pipeline
            if removed:
                print(f"legal-anon: --overwrite: removed {removed} files of another pipeline's run from {output}",
                      file=sys.stderr)
    except (UsageError, ValueError, OutputError) as e:
        print(f"legal-anon: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(f"legal-anon: cannot prepare the output folder {output}: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    stats = RunStats()
    errors: List[DocumentError] = []
    done: List[str] = []
    sink = writer if writer is not None else StdoutWriter(fmts[0])
    if engine == "ray":
        from legal_anon.engines.ray_data import RayEngine

        runner = RayEngine(model, anonymizer, threshold, workers=workers, batch_size=batch_size, address=ray_address,
                           max_chars=max_chars, max_length=max_length, options=options)
    else:
        runner = LocalEngine(nlp, batch_size=batch_size, n_process=n_process, max_length=max_length,
                             max_chars=max_chars, options=options)
    tally = DocumentTally()
    bar = tqdm(total=count_documents(items, input_format) if engine == "local" else None, unit="doc",
               file=sys.stderr, disable=quiet, dynamic_ncols=True, desc="anonymizing")
    failure = None
    try:
        for result in runner.run(items, sink, input_format, text_key):
            if isinstance(result, DocumentError) and not result.doc_id:  # an input that could not be read
                stats.inputs_failed.append({"input": result.source, "reason": result.reason})
                errors.append(result)
                (print if quiet else bar.write)(f"legal-anon: skipped {result.source}: {result.reason}", file=sys.stderr)
                continue
            if isinstance(result, DocumentError):
                stats.docs_failed.append({"doc_id": result.doc_id, "source": result.source, "reason": result.reason})
                errors.append(result)
            elif result.resumed:
                stats.docs_resumed += 1
                done.append(result.doc_id)
            else:
                stats.add(result, piece_length(nlp, max_length))
                tally.add(result)
                done.append(result.doc_id)
            bar.update(1)
    except KeyboardInterrupt:
        abort_on_next_ctrl_c()
        failure = "interrupted"
    except OutputError as e:
        failure = str(e)
    except Exception as e:  # a cluster that cannot run the pipeline (no salt on its nodes, no model there)
        if engine != "ray":
            raise
        failure = output_error_in(e) or f"the Ray engine failed ({type(e).__name__}): {str(e)[-2000:]}"
    finally:
        bar.close()
        if engine == "ray":
            runner.stop()
    if failure is None:
        try:
            if writer is not None:
                finish(output, fmts, runner.order, errors, review_dir, done=done, fingerprint=writer.fingerprint)
                if review_dir is not None:
                    write_manifest(review_dir, output, fmts, model, nlp, writer.fingerprint,
                                   [d for d in runner.order if d in set(done)])
            else:
                sink.close()
        except KeyboardInterrupt:
            abort_on_next_ctrl_c()
            failure = "interrupted"
        except OSError as e:  # OutputError is not an OSError: the collections' own writes
            failure = f"cannot write the collections in {output}: {e.strerror or e}"
    if failure is not None:
        print_stopped(failure, stats, output, engine, written=writer.written if writer is not None else None)
        return EXIT_INTERRUPTED if failure == "interrupted" else EXIT_USAGE
    summary = stats.as_dict()
    summary.update({"engine": runner.name, "model": model, "inputs": len(items), "batch_size": batch_size,
                    "n_process": n_process, "workers": workers if engine == "ray" else None,
                    "output": str(output) if output else None, "formats": fmts,
                    "review_dir": str(review_dir) if review_dir else None, "renamed_doc_ids": runner.renamed,
                    "documents": tally.as_dict()})
    print_summary(summary)
    if tally.files:
        print(tally.line(), file=sys.stderr)
    if summary_json:
        try:
            summary_json.write_text(json.dumps(summary, indent=2), encoding="utf8")
        except OSError as e:
            print(f"legal-anon: cannot write the summary {summary_json}: {e.strerror or e}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_INPUT_ERRORS if stats.inputs_failed or stats.docs_failed else EXIT_OK


def check_folder(folder: Path, what: str) -> None:
    """A folder the run can write into: created if missing, probed with a temp file."""
    import tempfile

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"the {what} {folder} is not a folder (a file of that name exists)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create the {what} {folder}: {e.strerror or e}") from None
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".tmp-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"cannot write to the {what} {folder}: {e.strerror or e}") from None


def output_error_in(e: BaseException) -> Optional[str]:
    """The message of an OutputError raised in a Ray worker, if that is what ended the run.
    Ray Data re-raises a worker's exception as a UserCodeException without its cause; the
    worker's traceback text (``traceback_str``) still names it."""
    import re

    from legal_anon.io.sinks import OutputError

    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OutputError):
            return str(e).strip().splitlines()[-1]
        found = re.findall(r"OutputError: (.+)", f"{getattr(e, 'traceback_str', '')}\n{e}")
        if found:
            return found[-1].strip()
        e = getattr(e, "cause", None) or e.__cause__ or e.__context__
    return None


def write_manifest(review_dir, output, fmts, model, nlp, fingerprint, doc_ids) -> None:
    from legal_anon.review.store import write_run_manifest

    anonymizer_name = next(n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "anonymizer")
    write_run_manifest(review_dir, output=output, formats=fmts, model=model,
                       anonymizer=nlp.config["components"][anonymizer_name], fingerprint=fingerprint, doc_ids=doc_ids)


# --------------------------------------------------------------------------- assemble


@app.command("assemble")
def assemble(
    model: str = typer.Argument(..., help="Trained pipeline (e.g. training/bilstm_crf/model-best)"),
    output: Path = typer.Argument(..., help="Where to save the pipeline with the anonymizer"),
    name: Optional[str] = typer.Option(None, "--name", help="meta name (e.g. legal_anon)"),
    version: Optional[str] = typer.Option(None, "--version", help="meta version"),
    operator: List[str] = typer.Option([], "--operator", metavar="LABEL=OP", help="Per-label operator (repeatable)"),
    default_operator: Optional[str] = typer.Option(None, "--default-operator"),
    salt_env: Optional[str] = typer.Option(None, "--salt-env"),
    salt_file: Optional[str] = typer.Option(None, "--salt-file"),
    min_length: Optional[int] = typer.Option(None, "--min-length"),
):
    """Add (or reconfigure) the anonymizer after a trained NER and save the pipeline."""
    import spacy

    try:
        cfg = anonymizer_overrides(operator, default_operator, salt_env, salt_file, None, min_length, False)
        nlp = spacy.load(model)
        for existing in [n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "anonymizer"]:
            nlp.remove_pipe(existing)
        nlp.add_pipe("anonymizer", config=cfg, last=True)
    except Exception as e:
        print(f"legal-anon: cannot assemble {model!r}: {e}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)
    if name:
        nlp.meta["name"] = name
    if version:
        nlp.meta["version"] = version
    nlp.to_disk(output)
    print(f"legal-anon: saved {output} with pipeline {nlp.pipe_names} "
          f"(anonymizer operators: {cfg.get('operators', {})}, default {cfg.get('default_operator', 'replace')})")


# --------------------------------------------------------------------------- review


@app.command("review")
def review(
    review_dir: Path = typer.Argument(..., help="The --review-dir folder of a `legal-anon anonymize` run"),
    reviewer: str = typer.Option(..., "--reviewer", help="Your name: the annotator layer of your corrections and the audit"),
    host: Optional[str] = typer.Option(None, "--host", help="Address to serve on (default 127.0.0.1; any other is warned about)"),
    port: int = typer.Option(0, "--port", help="Port (default: a free one)"),
):
    """Check and correct the masks of an anonymize run in a local web page (docs/review.md)."""
    from legal_anon.review.serve import serve
    from legal_anon.review.store import ReviewError

    try:
        serve(review_dir, reviewer, host, port)
    except (ReviewError, ValueError, OSError) as e:
        print(f"legal-anon: cannot review {review_dir}: {e}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)


# --------------------------------------------------------------------------- entry point


def main(argv: Optional[List[str]] = None) -> int:
    """Console script: ``legal-anon FILES...`` means ``legal-anon anonymize FILES...``.

    Click's standalone mode turns usage errors into status 2 with a usage line and a closed
    stdout (``| head``) into a quiet exit."""
    in_process = argv is not None  # called from Python, not as the command's own process
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in (*COMMANDS, "--help", "-h"):
        argv.insert(0, "anonymize")
    before = signal.getsignal(signal.SIGINT)
    try:
        app(args=argv, prog_name="legal-anon")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_USAGE)
    finally:  # the caller's SIGINT handler back; the command's own process only exits now (Ctrl-C: at once)
        if in_process and on_main_thread() and before is not None:
            signal.signal(signal.SIGINT, before)
        elif not in_process:
            abort_on_next_ctrl_c()
    return EXIT_OK
