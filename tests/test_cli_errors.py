"""Every bad input, model and output folder of the batch command line gets one clear answer
(a message, errors.jsonl, the exit status), and nothing is dropped silently."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import spacy

from legal_anon.cli import main

TEXT = "Mr Galip Yalman lives in Ankara."


def ruler_pipeline(names=("Galip Yalman",), **anonymizer):
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": n} for n in names] + [{"label": "LOC", "pattern": "Ankara"}])
    nlp.add_pipe("anonymizer", config=anonymizer)
    return nlp


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "ruler"
    ruler_pipeline().to_disk(path)
    return path


def errors_of(out: Path):
    return [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf8").splitlines()]


# --------------------------------------------------------------------------- models


def test_a_pipeline_without_an_entity_recognizer_is_refused(tmp_path, capsys):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf8")
    spacy.blank("en").to_disk(tmp_path / "blank")
    disabled = ruler_pipeline()
    disabled.disable_pipe("entity_ruler")
    disabled.to_disk(tmp_path / "disabled")
    for model in ("blank", "disabled"):
        out = tmp_path / f"out_{model}"
        assert main([str(tmp_path / "a.txt"), "-m", str(tmp_path / model), "-o", str(out), "-q"]) == 2
        err = capsys.readouterr().err
        assert "no entity recognizer" in err and "Traceback" not in err, err
        assert not (out / "text").exists()  # nothing written as "anonymized"


def test_a_model_config_without_components_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf8")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.cfg").write_text("[nlp]\nlang = \"en\"\npipeline = []\n", encoding="utf8")
    assert main([str(tmp_path / "a.txt"), "-m", str(tmp_path / "model"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot load pipeline" in err and "[components]" in err


# --------------------------------------------------------------------------- inputs


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_symlinked_folders_are_followed_once_and_bad_links_reported(model_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "linked.txt").write_text("Mr Galip Yalman wrote from Ankara.", encoding="utf8")
    folder = tmp_path / "in"
    (folder / "real").mkdir(parents=True)
    (folder / "real" / "a.txt").write_text(TEXT, encoding="utf8")
    (folder / "ext").symlink_to(outside, target_is_directory=True)  # followed
    (folder / "real" / "loop").symlink_to(folder, target_is_directory=True)  # back to the root: a loop
    (folder / "again").symlink_to(folder / "real", target_is_directory=True)  # a folder already read
    (folder / "gone.txt").symlink_to(tmp_path / "missing.txt")  # dangling
    out = tmp_path / "out"
    assert main([str(folder), "-m", str(model_dir), "-o", str(out), "-q", "-f", "json"]) == 1
    ids = [json.loads(line)["doc_id"] for line in (out / "spans.jsonl").read_text().splitlines()]
    assert ids == ["ext/linked", "real/a"]
    reasons = {Path(e["source"]).name: e["reason"] for e in errors_of(out)}
    assert set(reasons) == {"again", "loop", "gone.txt"}, reasons
    assert "broken symbolic link" in reasons["gone.txt"]
    assert "already read" in reasons["loop"] and "already read" in reasons["again"]


def test_a_bad_jsonl_line_loses_only_that_line(model_dir, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "docs.jsonl").write_text(
        json.dumps({"id": "one", "text": TEXT}) + "\n" + '{"id": "two", "text": "unterminated\n'
        + json.dumps({"id": "three", "body": "no text"}) + "\n" + json.dumps({"id": "four", "text": TEXT}) + "\n",
        encoding="utf8")
    out = tmp_path / "out"
    assert main([str(folder), "-m", str(model_dir), "-o", str(out), "-q", "--summary-json", str(tmp_path / "s.json")]) == 1
    assert sorted(json.loads((out / "tab_predictions.json").read_text())) == ["four", "one"]
    errors = errors_of(out)
    assert [(e["doc_id"], e["reason"].split(":")[0]) for e in errors] == [("docs:2", "line 2"), ("three", "line 3")]
    assert "invalid JSON" in errors[0]["reason"] and "no 'text' key" in errors[1]["reason"]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["docs"] == 2 and len(summary["docs_failed"]) == 2 and not summary["inputs_failed"]


def test_a_bad_parquet_row_loses_only_that_row(model_dir, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"doc_id": ["a", "b", "c"], "text": [TEXT, None, TEXT]}), folder / "rows.parquet")
    out = tmp_path / "out"
    assert main([str(folder), "-m", str(model_dir), "-o", str(out), "-q"]) == 1
    assert sorted(json.loads((out / "tab_predictions.json").read_text())) == ["a", "c"]
    [error] = errors_of(out)
    assert error["doc_id"] == "b" and error["reason"].startswith("row 1: 'text' is NoneType")


def test_the_summary_says_how_many_skipped_documents_it_does_not_list(model_dir, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "docs.jsonl").write_text("".join(json.dumps({"id": f"e{i}", "text": " "}) + "\n" for i in range(25))
                                       + json.dumps({"id": "ok", "text": TEXT}) + "\n", encoding="utf8")
    assert main([str(folder), "-m", str(model_dir), "-o", str(tmp_path / "out"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("SKIPPED:") == 20 and "... and 5 more (all in " in err


# --------------------------------------------------------------------------- output folder


def test_an_output_folder_that_cannot_be_used_is_refused_before_the_model_loads(tmp_path, capsys):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf8")
    (tmp_path / "file").write_text("I am a file", encoding="utf8")
    no_model = str(tmp_path / "no_model")  # the folder is checked first: the message is about the folder
    assert main([str(tmp_path / "a.txt"), "-m", no_model, "-o", str(tmp_path / "file"), "-q"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main([str(tmp_path / "a.txt"), "-m", no_model, "-o", str(tmp_path / "file" / "sub"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot create the output folder" in err and "Traceback" not in err


def test_a_read_only_output_folder_is_refused(tmp_path, capsys, monkeypatch):
    import tempfile

    (tmp_path / "a.txt").write_text(TEXT, encoding="utf8")
    out = tmp_path / "out"
    out.mkdir()
    if os.geteuid() != 0:
        out.chmod(0o555)
    else:  # root writes anywhere: the write probe is made to fail as it would for a user
        def denied(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")
        monkeypatch.setattr(tempfile, "mkstemp", denied)
    try:
        assert main([str(tmp_path / "a.txt"), "-m", str(tmp_path / "no_model"), "-o", str(out), "-q"]) == 2
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert f"cannot write to the output folder {out}" in err and "Permission denied" in err


def test_a_full_disk_ends_with_one_message_and_no_partial_files(model_dir, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(6):
        (folder / f"d{i}.txt").write_text(TEXT, encoding="utf8")
    out = tmp_path / "out"
    calls = {"n": 0}
    real_fsync = os.fsync

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert main([str(folder), "-m", str(model_dir), "-o", str(out), "-q", "-f", "text,json,html"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert "rerun the same command to resume" in err
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]
    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed: the rerun completes
    assert main([str(folder), "-m", str(model_dir), "-o", str(out), "-q", "-f", "text,json,html"]) == 0
    assert len(json.loads("[" + ",".join((out / "spans.jsonl").read_text().splitlines()) + "]")) == 6
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]
