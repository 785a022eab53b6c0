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
    rc = main(["anonymize", str(input_dir), "-m", str(model_dir), "-o", str(out), "-q",
               "--summary-json", str(out / "summary.json"), "-b", "4"])
    assert rc == 1  # some inputs failed
    err = capsys.readouterr().err
    for bad in ("broken.json", "latin1.txt", "notext.jsonl"):
        assert f"skipped {input_dir / bad}" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files_ok"] == 8
    assert summary["files_failed"] == 3 and summary["docs"] == 12
    assert summary["words"] > 3000 and summary["peak_rss_mb"] > 0
    # text
    texts = sorted(p.name for p in (out / "text").iterdir())
    assert len(texts) == 12 and "sub_more.txt" not in texts
    # json spans, with offsets that hold in both texts
    records = [json.loads(line) for line in (out / "spans.jsonl").read_text().splitlines()]
    by_id = {d["doc_id"]: d["text"] for d in sample_docs}
    assert {r["doc_id"] for r in records} == set(list(by_id)[:12])
    for r in records:
        original = by_id[r["doc_id"]]
        for rep in r["replacements"]:
            assert original[rep["start"]:rep["end"]] == rep["text"]
            assert r["anonymized"][rep["new_start"]:rep["new_end"]] == rep["replacement"]
            if len(rep["text"].strip()) >= 3:
                assert rep["text"] not in r["anonymized"]
    # TAB format
    tab = json.loads((out / "tab_predictions.json").read_text())
    assert set(tab) == {r["doc_id"] for r in records}
    assert all(isinstance(s, list) and len(s) == 2 for spans in tab.values() for s in spans)
    # HTML: a page per document with the spans highlighted, and an index
    html_files = list((out / "html").glob("*.html"))
    assert len(html_files) == 13
    page = (out / "html" / f"{sample_docs[0]['doc_id']}.html").read_text()
    assert "<mark" in page and "PERSON" in page and "PERSON_1" in page


def test_good_run_exit_zero_and_stdout_formats(model_dir, sample_docs, tmp_path, capsys):
    f = tmp_path / "one.txt"
    f.write_text(sample_docs[0]["text"], encoding="utf8")
    assert main([str(f), "-m", str(model_dir), "-f", "text", "-q"]) == 0  # no subcommand = anonymize
    captured = capsys.readouterr()
    assert "PERSON_1" in captured.out and "legal-anon summary" in captured.err
    assert main([str(f), "-m", str(model_dir), "-f", "tab", "-q"]) == 0
    tab = json.loads(capsys.readouterr().out)
    assert list(tab) == ["one"] and len(tab["one"]) > 5


def test_missing_model_or_input_is_usage_error(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("x")
    assert main([str(tmp_path / "a.txt"), "-m", str(tmp_path / "nope"), "-q"]) == 2
    assert main([str(tmp_path / "empty_dir_does_not_exist"), "-m", str(tmp_path / "nope"), "-q"]) == 2


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
    for rep in split["replacements"]:
        assert text[rep["start"]:rep["end"]] == rep["text"]


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
