"""The batch command line: inputs of every kind, every output format, bad files reported
and skipped with exit status 1, long documents split with offsets kept, stdin/stdout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from legal_anon.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sample_docs(sample_dir):
    return json.loads((sample_dir / "test.json").read_text(encoding="utf8"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, sample_docs):
    """A deterministic stand-in for the trained NER: an entity ruler that knows the gold
    masked mentions of the sample test split, followed by the anonymizer."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": None})
    seen = set()
    for d in sample_docs:
        for m in d["annotations"]["annotator1"]["entity_mentions"]:
            key = (m["entity_type"], m["span_text"])
            if m["identifier_type"] != "NO_MASK" and key not in seen:
                seen.add(key)
                ruler.add_patterns([{"label": m["entity_type"], "pattern": m["span_text"]}])
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "pseudonym"}})
    path = tmp_path_factory.mktemp("model") / "ruler_anon"
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def input_dir(tmp_path_factory, sample_docs):
    d = tmp_path_factory.mktemp("inputs")
    for doc in sample_docs[:6]:
        (d / f"{doc['doc_id']}.txt").write_text(doc["text"], encoding="utf8")
    (d / "sub").mkdir()
    (d / "sub" / "more.jsonl").write_text(
        "\n".join(json.dumps({"id": doc["doc_id"], "text": doc["text"]}) for doc in sample_docs[6:9]) + "\n",
        encoding="utf8",
    )
    (d / "tab.json").write_text(json.dumps(sample_docs[9:12], ensure_ascii=False), encoding="utf8")
    # bad files: broken JSON, not UTF-8, a JSONL line without text
    (d / "broken.json").write_text('[{"doc_id": "x", "text": "unterminated', encoding="utf8")
    (d / "latin1.txt").write_bytes("Caf\xe9 Yalman".encode("latin-1"))
    (d / "notext.jsonl").write_text('{"id": "a", "body": "no text key"}\n', encoding="utf8")
    (d / "ignored.csv").write_text("not an input", encoding="utf8")
    return d


def test_folder_all_formats_bad_files_skipped(model_dir, input_dir, tmp_path, sample_docs, capsys):
    out = tmp_path / "out"
    rc = main(["anonymize", str(input_dir), "-m", str(model_dir), "-o", str(out), "-q", "-f", "text,json,tab,html,parquet",
               "--summary-json", str(out / "summary.json"), "-b", "4"])
    assert rc == 1  # some inputs failed
    err = capsys.readouterr().err
    for bad in ("broken.json", "latin1.txt"):  # whole files that cannot be read
        assert f"skipped {input_dir / bad}" in err
    assert "not UTF-8 text (byte 3" in err
    assert f"SKIPPED:   a ({input_dir / 'notext.jsonl'}): line 1: no 'text' key" in err  # one line of a file
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"] == 11 and len(summary["inputs_failed"]) == 2 and summary["docs"] == 12
    assert [f["doc_id"] for f in summary["docs_failed"]] == ["a"]
    assert summary["words"] > 3000 and summary["peak_rss_mb"] > 0
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert sorted(Path(e["source"]).name for e in errors) == ["broken.json", "latin1.txt", "notext.jsonl"]
    # text
    texts = sorted(p.name for p in (out / "text").iterdir())
    assert len(texts) == 12 and "sub%2Fmore%3A1.txt" not in texts
    # json spans: offsets and replacements that hold in both texts, but no original text
    records = [json.loads(line) for line in (out / "spans.jsonl").read_text().splitlines()]
    by_id = {d["doc_id"]: d["text"] for d in sample_docs}
    docs_by_id = {d["doc_id"]: d for d in sample_docs}
    assert {r["doc_id"] for r in records} == set(list(by_id)[:12])
    for r in records:
        assert all("text" not in rep for rep in r["replacements"]) and all("text" not in e for e in r["entities"])
        for rep in r["replacements"]:
            assert r["anonymized"][rep["new_start"]:rep["new_end"]] == rep["replacement"]
    # TAB format
    tab = json.loads((out / "tab_predictions.json").read_text())
    assert list(tab) == [r["doc_id"] for r in records]  # the same documents, in the same (input) order
    nlp = spacy.load(model_dir)
    for r in records:  # the pipeline's own replacements, and every gold masked mention of the layer covered
        text = by_id[r["doc_id"]]
        assert tab[r["doc_id"]] == [[x["start"], x["end"]] for x in nlp(text)._.anon_replacements] != []
        assert not uncovered(docs_by_id[r["doc_id"]], tab[r["doc_id"]])
    # HTML of the anonymized text, a page per document and an index
    html_files = list((out / "html").glob("*.html"))
    assert len(html_files) == 13
    page = (out / "html" / f"{sample_docs[0]['doc_id']}.html").read_text()
    assert "<mark" in page and "PERSON_1" in page
    # Parquet: one row per document
    import pyarrow.parquet as pq

    table = pq.read_table(out / "anonymized.parquet")
    assert table.num_rows == 12 and set(table.column("doc_id").to_pylist()) == {r["doc_id"] for r in records}


def test_default_outputs_never_contain_a_masked_string_and_review_material_is_apart(
        model_dir, input_dir, tmp_path, sample_docs, capsys):
    """An output folder someone shares as anonymized holds anonymized material only: every
    file of every format is searched for every string the anonymizer masked. The original
    identifiers go only to --review-dir, outside it, under a warning."""
    out, review = tmp_path / "out", tmp_path / "review"
    main(["anonymize", str(input_dir), "-m", str(model_dir), "-o", str(out), "-q", "-f", "text,json,tab,html,parquet",
          "--review-dir", str(review)])
    err = capsys.readouterr().err
    assert "REVIEW" in err and str(review) in err and "ORIGINAL identifiers" in err
    masked = set()
    for line in (review / "spans_with_text.jsonl").read_text(encoding="utf8").splitlines():
        rec = json.loads(line)
        masked |= {r["text"] for r in rec["replacements"] if len(r["text"].strip()) >= 3}
    assert len(masked) > 50
    files = [p for p in out.rglob("*") if p.is_file()]
    # texts, HTML pages + index, records + the pipeline marker, spans, TAB, a Parquet part, errors
    assert len(files) == 12 + 13 + 12 + 1 + 4
    for path in files:
        content = path.read_bytes().decode("utf8", errors="replace")
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
            for row in rows:  # the nested columns are JSON text
                row["entities"], row["replacements"] = json.loads(row["entities"]), json.loads(row["replacements"])
            content = "\n".join(_strings(rows))
        elif path.suffix in (".json", ".jsonl"):  # the strings only: offsets are numbers, "1958" is a year
            content = "\n".join(s for line in content.splitlines() for s in _strings(json.loads(line)))
        leaked = [m for m in masked if m in content]
        assert not leaked, (path, leaked[:5])
    review_page = (review / "html" / f"{sample_docs[0]['doc_id']}.html").read_text(encoding="utf8")
    assert "REVIEW MATERIAL" in review_page and "not anonymized" in review_page
    assert any(m in review_page for m in masked)  # the review page does show the originals
    # review material inside the output folder is refused
    assert main(["anonymize", str(input_dir), "-m", str(model_dir), "-o", str(out), "-q",
                 "--review-dir", str(out / "review")]) == 2
    assert "must lie outside the output folder" in capsys.readouterr().err


def _strings(value):
    """Every string in a JSON value, keys included (not the hex digests of records/)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            if k not in ("content_sha256", "pipeline"):
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_repeated_doc_ids_are_renamed_one_way_and_said_in_the_summary(model_dir, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps({"id": "x", "text": "Mr Galip Yalman left."}) + "\n"
                                    + json.dumps({"id": "x", "text": "Ms Ayse Kaya stayed."}) + "\n", encoding="utf8")
    (folder / "x.txt").write_text("Mr Nadir Demir wrote.", encoding="utf8")
    out = tmp_path / "out"
    assert main([str(folder), "-m", str(model_dir), "-o", str(out), "-q", "--summary-json", str(out / "s.json")]) == 0
    assert "renamed:   2 repeated doc_id(s) (x -> x#2, x -> x#3)" in capsys.readouterr().err
    summary = json.loads((out / "s.json").read_text())
    assert [r["renamed_to"] for r in summary["renamed_doc_ids"]] == ["x#2", "x#3"]
    tab = json.loads((out / "tab_predictions.json").read_text())
    assert sorted(tab) == ["x", "x#2", "x#3"]
    assert sorted(p.name for p in (out / "text").iterdir()) == ["x%232.txt", "x%233.txt", "x.txt"]
    ids = [json.loads(line)["doc_id"] for line in (out / "spans.jsonl").read_text().splitlines()]
    assert sorted(ids) == ["x", "x#2", "x#3"]


def test_closed_stdout_ends_the_run_quietly(model_dir, tmp_path):
    """`legal-anon big.jsonl | head -1`: no BrokenPipeError traceback."""
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"id": str(i), "text": "Mr Galip Yalman lives in Ankara. " * 20}) + "\n"
                           for i in range(300)), encoding="utf8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "legal_anon", str(big), "-m", str(model_dir), "-q", "-f", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    first = proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=300)
    assert json.loads(first)["doc_id"] == "0"
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()[-2000:]


def test_empty_and_oversized_documents_are_recorded_not_fatal(model_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in (
        {"id": "ok", "text": "Mr Galip Yalman left."}, {"id": "empty", "text": "   "},
        {"id": "huge", "text": "Mr Galip Yalman left. " * 100})), encoding="utf8")
    out = tmp_path / "out"
    assert main([str(folder), "-m", str(model_dir), "-o", str(out), "-q", "--max-chars", "500"]) == 1
    errors = {e["doc_id"]: e["reason"] for e in map(json.loads, (out / "errors.jsonl").read_text().splitlines())}
    assert errors["empty"].startswith("empty document") and "over the limit of 500" in errors["huge"]
    assert list(json.loads((out / "tab_predictions.json").read_text())) == ["ok"]


def test_good_run_exit_zero_and_stdout_formats(model_dir, sample_docs, tmp_path, capsys):
    f = tmp_path / "one.txt"
    f.write_text(sample_docs[0]["text"], encoding="utf8")
    assert main([str(f), "-m", str(model_dir), "-f", "text", "-q"]) == 0  # no subcommand = anonymize
    captured = capsys.readouterr()
    assert "PERSON_1" in captured.out and "legal-anon summary" in captured.err
    assert main([str(f), "-m", str(model_dir), "-f", "tab", "-q"]) == 0
    tab = json.loads(capsys.readouterr().out)
    doc = spacy.load(model_dir)(sample_docs[0]["text"])  # the pipeline itself, in this process
    assert tab == {"one": [[r["start"], r["end"]] for r in doc._.anon_replacements]}
    assert not uncovered(sample_docs[0], tab["one"])  # every masked mention of the gold layer is in the output


def uncovered(doc, spans):
    """The gold masked mentions (annotator1) that no predicted span covers."""
    return [m["span_text"] for m in doc["annotations"]["annotator1"]["entity_mentions"]
            if m["identifier_type"] != "NO_MASK"
            and not any(s <= m["start_offset"] and m["end_offset"] <= e for s, e in spans)]


def test_missing_model_or_input_is_usage_error(model_dir, tmp_path, capsys):
    (tmp_path / "a.txt").write_text("x")
    assert main([str(tmp_path / "a.txt"), "-m", str(tmp_path / "nope"), "-q"]) == 2
    assert "cannot load pipeline" in capsys.readouterr().err
    assert main([str(tmp_path / "does_not_exist.txt"), "-m", str(model_dir), "-q"]) == 2
    assert "no such input" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.csv").write_text("not an input")
    assert main([str(tmp_path / "empty"), "-m", str(model_dir), "-q"]) == 2
    assert "no input files found" in capsys.readouterr().err
    assert main([str(tmp_path / "a.txt"), "-m", str(model_dir), "--no-such-option"]) == 2


def test_long_documents_split_offsets_right(model_dir, sample_docs, tmp_path):
    text = "\n\n".join(d["text"] for d in sample_docs[:5])
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "long.txt").write_text(text, encoding="utf8")
    results = {}
    for name, extra in (("whole", []), ("split", ["--max-length", "1500"])):
        out = tmp_path / name
        rc = main([str(tmp_path / "in"), "-m", str(model_dir), "-o", str(out), "-f", "json,tab", "-q",
                   "--summary-json", str(out / "s.json"), *extra])
        assert rc == 0
        results[name] = json.loads((out / "spans.jsonl").read_text())
        summary = json.loads((out / "s.json").read_text())
        assert summary["docs_split"] == (1 if extra else 0)
    whole, split = results["whole"], results["split"]
    assert split["entities"] == whole["entities"]
    assert split["replacements"] == whole["replacements"]
    assert split["anonymized"] == whole["anonymized"]
    # the offsets hold in both texts: the original with each span replaced is the output
    rebuilt, pos = [], 0
    for rep in split["replacements"]:
        rebuilt += [text[pos:rep["start"]], rep["replacement"]]
        pos = rep["end"]
    assert "".join(rebuilt) + text[pos:] == split["anonymized"]


def test_python_m_stdin_and_n_process(model_dir, sample_docs, tmp_path):
    """`python -m legal_anon -` in a fresh process, reading stdin; and n_process=2."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "legal_anon", "-", "-m", str(model_dir), "-f", "json", "-q"],
        input=sample_docs[0]["text"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["doc_id"] == "stdin" and record["replacements"]
    folder = tmp_path / "docs"
    folder.mkdir()
    for d in sample_docs[:8]:
        (folder / f"{d['doc_id']}.txt").write_text(d["text"], encoding="utf8")
    out1, out2 = tmp_path / "o1", tmp_path / "o2"
    assert main([str(folder), "-m", str(model_dir), "-o", str(out1), "-f", "tab", "-q"]) == 0
    assert main([str(folder), "-m", str(model_dir), "-o", str(out2), "-f", "tab", "-q", "-n", "2", "-b", "2"]) == 0
    assert json.loads((out1 / "tab_predictions.json").read_text()) == json.loads((out2 / "tab_predictions.json").read_text())


def test_assemble_adds_anonymizer(tmp_path, capsys):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PERSON", "pattern": "Mr Galip Yalman"}])
    nlp.to_disk(tmp_path / "ner")
    assert main(["assemble", str(tmp_path / "ner"), str(tmp_path / "full"), "--operator", "PERSON=pseudonym",
                 "--name", "legal_anon", "--version", "9.9.9"]) == 0
    full = spacy.load(tmp_path / "full")
    assert full.pipe_names == ["entity_ruler", "anonymizer"] and full.meta["version"] == "9.9.9"
    assert full("Mr Galip Yalman said.")._.anonymized == "PERSON_1 said."


def test_package_meta_figures_and_training_data(sample_dir, tmp_path):
    from scripts.package_meta import describe_tab_file, headline_figures, report_name

    report = {"model": "m", "tab": {"ER_di": {"value": 0.9, "num": 9, "den": 10}, "n_documents": 20,
                                     "per_type": {"PERSON": {"value": 1.0}}},
              "ner": {"ents_f": 0.8, "seqeval_f": 0.79}}
    assert headline_figures(report) == {"ER_di": 0.9, "ents_f": 0.8, "seqeval_f": 0.79}
    assert report_name(Path("reports/bilstm_crf/tab_metrics.json")) == "bilstm_crf/tab_metrics"
    info = describe_tab_file(sample_dir / "test.json")
    assert info["documents"] == 20 and info["source"] == "sample"
    assert info["masked_mentions_by_entity_type"]["PERSON"] > 0


def test_a_rerun_resumes_only_what_is_missing_and_ends_with_the_same_files(model_dir, sample_docs, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for d in sample_docs[:10]:
        (folder / f"{d['doc_id']}.txt").write_text(d["text"], encoding="utf8")
    out = tmp_path / "out"
    args = [str(folder), "-m", str(model_dir), "-o", str(out), "-q", "-f", "text,json,tab,html,parquet",
            "--summary-json", str(tmp_path / "s.json")]
    assert main(args) == 0
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix != ".parquet"}
    deleted = sorted((out / "text").iterdir())[::2]
    for p in deleted:
        p.unlink()
    assert main(args) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["docs"] == len(deleted) == 5 and summary["docs_resumed"] == 5
    again = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix != ".parquet"}
    assert again == first
    # another text under the same name, or another pipeline setting: computed again
    (folder / f"{sample_docs[0]['doc_id']}.txt").write_text(sample_docs[0]["text"] + " Mr Galip Yalman.", encoding="utf8")
    assert main(args) == 0
    assert json.loads((tmp_path / "s.json").read_text())["docs"] == 1
    # another pipeline setting: the folder is refused (never two pipelines' outputs in one), or recomputed
    assert main(args + ["--operator", "DATETIME=keep"]) == 2
    assert main(args + ["--operator", "DATETIME=keep", "--overwrite"]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["docs"] == 10
