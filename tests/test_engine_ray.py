"""The Ray Data engine on a local cluster (2 CPUs): the same bytes as the local engine, faults
that do not fail the job, resumable runs, and a salt that stays out of outputs and logs."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import spacy

ray = pytest.importorskip("ray")

from legal_anon.cli import main  # noqa: E402
from legal_anon.engines.local import DocumentDone, DocumentError, load_pipeline, pipeline_fingerprint  # noqa: E402
from legal_anon.engines.ray_data import RayEngine  # noqa: E402
from legal_anon.io.sinks import DocumentWriter, OutputError, file_name, finish  # noqa: E402
from legal_anon.io.sources import expand_inputs  # noqa: E402
from tests.signals import sigint_at_default  # noqa: E402


SALT = "test-salt-3b1f9c0e7d2a4c65"


pytestmark = pytest.mark.slow  # starts a local Ray cluster (about 80 s for the module)


@pytest.fixture(scope="module")
def cluster():
    """A local cluster whose workers inherit the salt from the environment, as the engine's own do."""
    os.environ["LEGAL_ANON_SALT"] = SALT
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    del os.environ["LEGAL_ANON_SALT"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, sample_dir):
    """An entity ruler that knows the sample test split's gold mentions, and the anonymizer;
    max_repair_rounds = 1, so a document whose output needs a repair raises (the fault)."""
    docs = json.loads((sample_dir / "test.json").read_text(encoding="utf8"))
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": None})
    seen = set()
    for d in docs:
        for m in d["annotations"]["annotator1"]["entity_mentions"]:
            if m["identifier_type"] != "NO_MASK" and (m["entity_type"], m["span_text"]) not in seen:
                seen.add((m["entity_type"], m["span_text"]))
                ruler.add_patterns([{"label": m["entity_type"], "pattern": m["span_text"]}])
    ruler.add_patterns([{"label": "PERSON", "pattern": "Zygmunt Kowalczyk"}])
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "pseudonym"}, "max_repair_rounds": 1})
    path = tmp_path_factory.mktemp("ray_model") / "ruler_anon"
    nlp.to_disk(path)
    return path


@pytest.fixture()
def inputs(tmp_path, sample_dir):
    docs = json.loads((sample_dir / "test.json").read_text(encoding="utf8"))
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for d in docs[:8]:
        (folder / f"{d['doc_id']}.txt").write_text(d["text"], encoding="utf8")
    (folder / "sub" / "more.jsonl").write_text("".join(
        json.dumps({"id": d["doc_id"], "text": d["text"]}) + "\n" for d in docs[8:11] + docs[1:2]), encoding="utf8")
    (folder / "tab.json").write_text(json.dumps(docs[11:14] + docs[:1], ensure_ascii=False), encoding="utf8")
    # 16 documents, two ids repeated (docs 0 and 1), and a file that is not UTF-8
    (folder / "latin1.txt").write_bytes("Caf\xe9".encode("latin-1"))
    return folder


def actor_pids():
    """The processes of the anonymizer actors (Ray names them ray::MapWorker(...))."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::MapWorker"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def run_cli(folder, model_dir, out, *extra):
    summary = out.parent / f"{out.name}.summary.json"
    rc = main([str(folder), "-m", str(model_dir), "-o", str(out), "-q", "-f", "text,json,tab,html,parquet",
               "--summary-json", str(summary), *extra])
    return rc, json.loads(summary.read_text())


def tree(folder: Path):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix != ".parquet"}


def test_ray_engine_writes_the_same_bytes_as_the_local_engine(cluster, model_dir, inputs, tmp_path):
    # errors in several files and batches: errors.jsonl must come in the same order from both engines
    (inputs / "sub" / "more.jsonl").write_text((inputs / "sub" / "more.jsonl").read_text(encoding="utf8")
                                               + '{"id": "blank", "text": " "}\n{"id": "broken"\n', encoding="utf8")
    (inputs / "a_empty.txt").write_text("", encoding="utf8")
    (inputs / "zz_empty.txt").write_text("\n", encoding="utf8")
    rc_local, local = run_cli(inputs, model_dir, tmp_path / "local")
    rc_ray, ray_summary = run_cli(inputs, model_dir, tmp_path / "ray", "--engine", "ray", "--workers", "2", "-b", "2")
    assert rc_local == rc_ray == 1  # the latin-1 file, the empty documents and the broken line, in both
    assert tree(tmp_path / "local") == tree(tmp_path / "ray")
    errors = [json.loads(x) for x in (tmp_path / "ray" / "errors.jsonl").read_text().splitlines()]
    assert [e["doc_id"] for e in errors] == ["a_empty", "", "blank", "sub/more:6", "zz_empty"]
    assert local["docs"] == ray_summary["docs"] == 16 and ray_summary["engine"] == "ray"
    assert local["renamed_doc_ids"] == ray_summary["renamed_doc_ids"] and len(ray_summary["renamed_doc_ids"]) == 2
    import pyarrow.parquet as pq

    assert (pq.read_table(tmp_path / "local" / "anonymized.parquet").to_pylist()
            == pq.read_table(tmp_path / "ray" / "anonymized.parquet").to_pylist())


class DyingWriter(DocumentWriter):
    """Kills the actor process the first time it is asked to write ``doc_id``: mid-batch, with
    the batch's results not yet returned. That document can only be written by a retry."""

    def __init__(self, *args, doc_id: str, marker: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.doc_id = doc_id
        self.marker = marker

    def write(self, record):
        if record.doc_id == self.doc_id and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        super().write(record)


def test_a_document_that_raises_and_a_worker_that_dies_do_not_fail_the_job(cluster, model_dir, inputs, tmp_path):
    import sys

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors get DyingWriter by value
    (inputs / "bad.txt").write_text("Mr Zygmunt Kowalczyk met the Kowalczyks.", encoding="utf8")  # needs a repair
    nlp = load_pipeline(str(model_dir), {})
    victim = json.loads((inputs / "sub" / "more.jsonl").read_text(encoding="utf8").splitlines()[1])["id"]
    marker = tmp_path / "killed.pid"
    writer = DyingWriter(tmp_path / "out", ["text", "json", "tab"], pipeline_fingerprint(nlp), doc_id=victim,
                         marker=marker)
    writer.prepare()
    engine = RayEngine(str(model_dir), {}, workers=2, batch_size=2)
    results = list(engine.run(expand_inputs([str(inputs)]), writer))
    finish(tmp_path / "out", ["text", "json", "tab"], engine.order, [r for r in results if isinstance(r, DocumentError)],
           done=[r.doc_id for r in results if isinstance(r, DocumentDone)])
    killed = int(marker.read_text())
    assert killed not in actor_pids()  # the actor died in the middle of its batch ...
    done = [r.doc_id for r in results if isinstance(r, DocumentDone)]
    failed = {r.doc_id: r.reason for r in results if isinstance(r, DocumentError) and r.doc_id}
    assert victim in done and (tmp_path / "out" / "text" / f"{file_name(victim)}.txt").exists()  # ... and was retried
    assert sorted(done) == sorted(set(done)) and len(done) == 16  # every good document once
    assert list(failed) == ["bad"] and "AnonymizationError" in failed["bad"]
    tab = json.loads((tmp_path / "out" / "tab_predictions.json").read_text())
    assert sorted(tab) == sorted(done)
    assert len(list((tmp_path / "out" / "text").iterdir())) == 16
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert {e["doc_id"] for e in errors} == {"", "bad"}  # the unreadable file and the document that raised


def test_a_rerun_recomputes_only_the_deleted_outputs(cluster, model_dir, inputs, tmp_path):
    out = tmp_path / "out"
    run_cli(inputs, model_dir, out, "--engine", "ray")
    first = tree(out)
    deleted = sorted((out / "text").iterdir())[::2]
    for p in deleted:
        p.unlink()
    rc, summary = run_cli(inputs, model_dir, out, "--engine", "ray")
    assert summary["docs"] == len(deleted) == 8 and summary["docs_resumed"] == 16 - 8
    assert tree(out) == first


def test_the_salt_reaches_workers_and_nowhere_else(cluster, model_dir, inputs, tmp_path):
    rc, _ = run_cli(inputs, model_dir, tmp_path / "local", "--operator", "PERSON=hash")
    rc, _ = run_cli(inputs, model_dir, tmp_path / "ray", "--operator", "PERSON=hash", "--engine", "ray")
    assert tree(tmp_path / "local") == tree(tmp_path / "ray")
    assert "PERSON_" in (tmp_path / "ray" / "spans.jsonl").read_text()
    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    for folder in (tmp_path / "ray", logs):
        for path in folder.rglob("*"):
            if path.is_file():
                assert SALT.encode() not in path.read_bytes(), path


def test_ctrl_c_stops_the_ray_engine_with_a_word_and_its_cluster(model_dir, tmp_path):
    """SIGINT to a running `--engine ray` command: exit 130, what was written and how to resume,
    and no process of the local cluster it started left behind."""
    import subprocess
    import sys
    import time

    big = tmp_path / "in" / "big.jsonl"
    big.parent.mkdir()
    big.write_text("".join(json.dumps({"id": f"d{i}", "text": "Mr Zygmunt Kowalczyk left. " * 30}) + "\n"
                           for i in range(20000)), encoding="utf8")
    out = tmp_path / "out"
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "components"), str(root)]), OMP_NUM_THREADS="1")
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-m", "legal_anon", str(big.parent), "-m", str(model_dir), "-o", str(out),
                             "-q", "--engine", "ray", "--workers", "1"], stderr=subprocess.PIPE, env=env,
                            start_new_session=True, preexec_fn=sigint_at_default)  # see tests/signals.py
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and len(list((out / "records").glob("*.json"))) < 5:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert b"interrupted" in err and b"rerun the same command to resume" in err
    assert list((out / "records").glob("*.json")) and not (out / "spans.jsonl").exists()
    time.sleep(3)
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _session(p) == proc.pid]
    assert not left, [(p.name, (p / "cmdline").read_bytes()[:60]) for p in left]


def _session(proc_dir: Path) -> int:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[3])  # state ppid pgrp session
    except (OSError, IndexError, ValueError):
        return -1


class FullDiskWriter(DocumentWriter):
    """A disk that is full: every write of a worker fails as the atomic writer reports it."""

    def write(self, record):
        raise OutputError(f"cannot write {self.out_dir}/text/x.txt: No space left on device")


def test_a_write_that_fails_in_a_worker_ends_the_run_with_its_message(cluster, model_dir, inputs, tmp_path):
    import sys

    from legal_anon.cli import output_error_in

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    nlp = load_pipeline(str(model_dir), {})
    writer = FullDiskWriter(tmp_path / "out", ["text"], pipeline_fingerprint(nlp))
    writer.prepare()
    engine = RayEngine(str(model_dir), {}, workers=1, batch_size=4)
    with pytest.raises(Exception) as failed:
        list(engine.run(expand_inputs([str(inputs)]), writer))
    assert output_error_in(failed.value) == f"cannot write {tmp_path / 'out'}/text/x.txt: No space left on device"
