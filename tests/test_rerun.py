"""Reruns into one output folder never mix runs: a document that fails now leaves no old
output behind, another model (weights) or another hash salt is refused instead of mixed,
and an interrupted run says what it wrote and resumes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import spacy

from legal_anon.cli import main
from tests.signals import sigint_at_default

ROOT = Path(__file__).resolve().parent.parent
SHORT = "Mr Galip Yalman left."
LONG = "Mr Ali Kaya lives in Ankara and wrote to Mr Galip Yalman."


def ruler_model(path: Path, names) -> Path:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PERSON", "pattern": n} for n in names])
    nlp.add_pipe("anonymizer")
    nlp.to_disk(path)
    return path


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "short.txt").write_text(SHORT, encoding="utf8")
    (d / "long.txt").write_text(LONG, encoding="utf8")
    (d / "other.txt").write_text("Ms Ayse Demir met Mr Ali Kaya.", encoding="utf8")
    return d


def files(out: Path):
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_a_document_that_fails_in_a_rerun_leaves_nothing_of_its_old_output(tmp_path, folder):
    model = ruler_model(tmp_path / "m", ["Galip Yalman", "Ali Kaya", "Ayse Demir"])
    out = tmp_path / "out"
    base = [str(folder), "-m", str(model), "-o", str(out), "-q", "-f", "text,json,tab,html,parquet"]
    assert main(base + ["--operator", "PERSON=keep", "--default-operator", "keep"]) == 0
    assert "Ali Kaya lives" in (out / "text" / "long.txt").read_text()
    assert main(base + ["--operator", "PERSON=keep", "--default-operator", "keep", "--max-chars", "40"]) == 1
    import pyarrow.parquet as pq

    everything = b"".join(files(out).values())
    assert b"Ali Kaya lives" not in everything  # the failed document's old text is nowhere
    assert not (out / "text" / "long.txt").exists() and not (out / "records" / "long.json").exists()
    assert not (out / "html" / "long.html").exists()
    assert [json.loads(x)["doc_id"] for x in (out / "spans.jsonl").read_text().splitlines()] == ["other", "short"]
    assert sorted(json.loads((out / "tab_predictions.json").read_text())) == ["other", "short"]
    assert pq.read_table(out / "anonymized.parquet").column("doc_id").to_pylist() == ["other", "short"]
    assert "long.html" not in (out / "html" / "index.html").read_text()
    assert [e["doc_id"] for e in map(json.loads, (out / "errors.jsonl").read_text().splitlines())] == ["long"]


def test_a_model_retrained_into_the_same_path_is_refused_until_overwrite(tmp_path, folder, capsys):
    model = ruler_model(tmp_path / "m", ["Galip Yalman"])
    out = tmp_path / "out"
    args = [str(folder), "-m", str(model), "-o", str(out), "-q", "--summary-json", str(tmp_path / "s.json")]
    assert main(args) == 0
    before = files(out)
    ruler_model(tmp_path / "m", ["Galip Yalman", "Ali Kaya"])  # same config, other "weights" (patterns)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "written by another pipeline" in err and "--overwrite" in err
    assert files(out) == before  # refused: nothing touched
    assert main(args + ["--overwrite"]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["docs"] == 3  # everything recomputed
    assert "Ali Kaya" not in (out / "text" / "long.txt").read_text()


def test_a_changed_hash_salt_is_refused_and_never_written(tmp_path, folder, capsys, monkeypatch):
    model = ruler_model(tmp_path / "m", ["Galip Yalman", "Ali Kaya"])
    out = tmp_path / "out"
    args = [str(folder), "-m", str(model), "-o", str(out), "-q", "--operator", "PERSON=hash"]
    monkeypatch.setenv("LEGAL_ANON_SALT", "first-salt-0a1b2c3d4e")
    assert main(args) == 0
    first = (out / "text" / "short.txt").read_text()
    assert main(args) == 0  # the same salt resumes
    monkeypatch.setenv("LEGAL_ANON_SALT", "second-salt-9f8e7d6c5b")
    assert main(args) == 2
    assert "written by another pipeline" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    assert (out / "text" / "short.txt").read_text() != first
    for content in files(out).values():
        assert b"first-salt" not in content and b"second-salt" not in content


def test_keyboard_interrupt_says_what_was_written_and_a_rerun_resumes(tmp_path, folder, capsys, monkeypatch):
    from legal_anon.io.sinks import DocumentWriter

    model = ruler_model(tmp_path / "m", ["Galip Yalman"])
    out = tmp_path / "out"
    args = [str(folder), "-m", str(model), "-o", str(out), "-q", "-b", "1", "--summary-json", str(tmp_path / "s.json")]
    real_write = DocumentWriter.write
    written = []

    def write(self, record):
        if len(written) == 2:
            raise KeyboardInterrupt
        real_write(self, record)
        written.append(record.doc_id)

    monkeypatch.setattr(DocumentWriter, "write", write)
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "2 documents written" in err and "rerun the same command to resume" in err
    monkeypatch.setattr(DocumentWriter, "write", real_write)
    assert main(args) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["docs_resumed"] == 2 and summary["docs"] == 1


def test_a_document_written_as_ctrl_c_lands_is_counted(tmp_path, folder, capsys, monkeypatch):
    """Ctrl-C after a document's record is written and before the engine reports it: the
    message counts what the writer wrote (it said one fewer)."""
    import legal_anon.engines.local as local

    model = ruler_model(tmp_path / "m", ["Galip Yalman"])
    out = tmp_path / "out"
    real_of = local.DocumentDone.of
    reported = []

    def of(record):
        if len(reported) == 1:
            raise KeyboardInterrupt  # the second document is written, not yet reported
        reported.append(record.doc_id)
        return real_of(record)

    monkeypatch.setattr(local.DocumentDone, "of", of)
    assert main([str(folder), "-m", str(model), "-o", str(out), "-q", "-b", "1"]) == 130
    assert "2 documents written" in capsys.readouterr().err
    assert len([p for p in (out / "records").glob("*.json") if not p.name.startswith(".")]) == 2


def test_a_second_ctrl_c_ends_the_command_at_once(tmp_path, folder, monkeypatch):
    """A real SIGINT in the middle of a document: from the first Ctrl-C on, SIGINT is at its
    default action while the command reports and exits (a second Ctrl-C kills it, no
    KeyboardInterrupt lands in the report or a cleanup), and the caller's handler is back
    when ``main`` returns."""
    import legal_anon.cli as cli
    from legal_anon.io.sinks import DocumentWriter

    model = ruler_model(tmp_path / "m", ["Galip Yalman"])
    real_stopped = cli.print_stopped
    seen = []

    def write(self, record):
        signal.raise_signal(signal.SIGINT)  # as the terminal sends it, to this process

    def stopped(*args, **kwargs):
        seen.append(signal.getsignal(signal.SIGINT))
        real_stopped(*args, **kwargs)

    monkeypatch.setattr(DocumentWriter, "write", write)
    monkeypatch.setattr(cli, "print_stopped", stopped)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, however pytest runs
    try:
        assert main([str(folder), "-m", str(model), "-o", str(tmp_path / "out"), "-q"]) == 130
        assert seen == [signal.SIG_DFL]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def command_with_a_written_document(tmp_path):
    """``legal-anon`` started on 20,000 documents, as a terminal starts its job (SIGINT at its
    default even when pytest runs in the background, tests/signals.py), once the record of a
    document is on disk (or after 120 s). Returns the process and its output folder."""
    model = ruler_model(tmp_path / "m", ["Galip Yalman"])
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"id": f"d{i}", "text": SHORT * 30}) + "\n" for i in range(20000)), encoding="utf8")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "components"), str(ROOT)]), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "legal_anon", str(big), "-m", str(model), "-o", str(out), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
                            preexec_fn=sigint_at_default)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not any(
            not p.name.startswith(".") for p in (out / "records").glob("*.json")):  # a document's record
        time.sleep(0.2)
    return proc, out


def test_two_sigints_to_a_running_command(tmp_path):
    """Ctrl-C twice in quick succession: the command ends at once, killed by the second (the
    shell shows 130 either way) or having reported the first, never with a traceback or a
    report that says nothing was written; the records it wrote are whole."""
    proc, out = command_with_a_written_document(tmp_path)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"still running 60 s after two SIGINTs; stderr: {err.decode()[-2000:]}")
    assert proc.returncode in (130, -signal.SIGINT), err.decode()[-2000:]
    assert b"Traceback" not in err and b"before any document was written" not in err, err.decode()[-2000:]
    for record in (out / "records").glob("*.json"):
        if not record.name.startswith("."):
            assert json.loads(record.read_text(encoding="utf8"))["anonymized"]


def test_sigint_to_a_running_command(tmp_path):
    proc, out = command_with_a_written_document(tmp_path)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        done = len(list((out / "records").glob("*.json")))
        pytest.fail(f"still running 120 s after SIGINT ({done} records written); stderr: {err.decode()[-2000:]}")
    assert proc.returncode == 130, err.decode()[-2000:]
    assert b"interrupted" in err and b"rerun the same command to resume" in err and b"Traceback" not in err


def test_a_command_started_by_a_background_harness_gets_sigint_back():
    """The cause of the CI failures of the Ctrl-C tests: pytest started as a background job
    (``.ci/run > log &``) ignores SIGINT, its children inherit the ignore, and their Python
    installs no KeyboardInterrupt handler; ``sigint_at_default`` gives the child its default."""
    probe = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"]
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does to a background job
    try:
        inherited = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
        reset = subprocess.run(probe, capture_output=True, text=True, check=True,
                               preexec_fn=sigint_at_default).stdout.strip()
    finally:
        signal.signal(signal.SIGINT, before)
    assert inherited == "False"  # such a command would never raise KeyboardInterrupt: it runs on
    assert reset == "True"


def test_temp_files_a_killed_run_left_are_gone_after_a_rerun(tmp_path, folder):
    model = ruler_model(tmp_path / "m", ["Galip Yalman"])
    out = tmp_path / "out"
    args = [str(folder), "-m", str(model), "-o", str(out), "-q", "-f", "text,html,parquet"]
    assert main(args) == 0
    for leftover in (out / "html" / ".tmp-abc.html", out / "records" / ".tmp-def.json", out / ".tmp-x.jsonl"):
        leftover.write_bytes(b"")  # what a SIGKILL during a write leaves
    (out / ".tmp-anonymized.parquet-123").mkdir()
    assert main(args) == 0
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]
