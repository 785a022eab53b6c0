"""The review app's API: the token on every route, no path traversal, no cross-site or
stale saves, saves that recompute the outputs with the run's anonymizer, and corrections
that the TAB converter turns into training data."""
from __future__ import annotations

import json
import re
import threading

import pytest
import spacy
from spacy.tokens import DocBin

from legal_anon.cli import main
from legal_anon.corpus.convert_tab import convert_tab_file
from legal_anon.corpus.tab import tab_mentions
from legal_anon.io.sinks import file_name
from legal_anon.review.app import create_app
from legal_anon.review.outputs import ReviewOutputs
from legal_anon.review.store import ReviewStore

fastapi_testclient = pytest.importorskip("fastapi.testclient")
TOKEN = "test-token-0123456789"


@pytest.fixture()
def client(review_run_copy):
    """A client over a fresh copy of the run (saves change files)."""
    tmp_path = review_run_copy
    store = ReviewStore(tmp_path / "review")
    app = create_app(store, ReviewOutputs(store.run), "alice", TOKEN, allowed_hosts=["testserver"])
    c = fastapi_testclient.TestClient(app)
    c.dirs = tmp_path
    c.csrf = c.get(f"/?token={TOKEN}").text.split("name='csrf-token' content='")[1].split("'")[0]
    c.cookies.clear()
    return c


def auth(c):
    return {"X-Review-Token": TOKEN, "X-CSRF-Token": c.csrf}


def routes(doc_id):
    quoted = doc_id
    return [("GET", "/"), ("GET", f"/doc/{quoted}"), ("GET", "/static/review.js"), ("GET", "/static/review.css"),
            ("GET", "/api/docs"), ("GET", f"/api/docs/{quoted}"), ("GET", f"/api/occurrences/{quoted}?start=0&end=3"),
            ("POST", f"/api/save/{quoted}")]


def test_every_route_needs_the_token(client, run_dirs):
    _, ids = run_dirs
    for method, path in routes(ids[0]):
        assert client.request(method, path).status_code == 401, path
        assert client.request(method, path, headers={"X-Review-Token": "wrong"}).status_code == 403, path
        r = client.request(method, path, headers={"X-Review-Token": TOKEN, "X-CSRF-Token": client.csrf},
                           json={"version": 0, "masks": []} if method == "POST" else None)
        assert r.status_code == 200, (path, r.text)
        assert "default-src 'none'" in r.headers["content-security-policy"]


def test_the_token_in_the_url_sets_a_same_site_cookie(client):
    r = client.get(f"/?token={TOKEN}")
    assert r.status_code == 200 and "samesite=strict" in r.headers["set-cookie"].lower()
    assert "httponly" in r.headers["set-cookie"].lower()
    assert client.get("/api/docs").status_code == 200  # the cookie alone now
    client.cookies.clear()


def test_a_foreign_host_header_is_refused(client):
    assert client.get("/api/docs", headers={"X-Review-Token": TOKEN, "Host": "evil.example"}).status_code == 403


@pytest.mark.parametrize("path", ["/api/docs/..%2F..%2Frun.json", "/api/docs/%2Fetc%2Fpasswd", "/doc/../run.json",
                                  "/api/docs/../../etc/passwd", "/api/occurrences/..%2Frun.json?start=0&end=1"])
def test_path_traversal_is_404(client, path):
    assert client.get(path, headers=auth(client)).status_code == 404


def test_cross_site_and_csrf_less_saves_are_refused(client, run_dirs):
    _, ids = run_dirs
    body = {"version": 0, "masks": []}
    assert client.post(f"/api/save/{ids[0]}", json=body,
                       headers={**auth(client), "Origin": "http://evil.example"}).status_code == 403
    assert client.post(f"/api/save/{ids[0]}", json=body, headers={"X-Review-Token": TOKEN}).status_code == 403
    assert client.post(f"/api/save/{ids[0]}", json=body,
                       headers={**auth(client), "Origin": "http://testserver"}).status_code == 200


def test_a_second_save_from_a_stale_page_is_409(client, run_dirs):
    _, ids = run_dirs
    doc = client.get(f"/api/docs/{ids[1]}", headers=auth(client)).json()
    body = {"version": doc["version"], "masks": doc["masks"]}
    first = client.post(f"/api/save/{ids[1]}", json=body, headers=auth(client))
    second = client.post(f"/api/save/{ids[1]}", json=body, headers=auth(client))
    assert first.status_code == 200 and first.json()["version"] == 1
    assert second.status_code == 409 and "reload" in second.json()["error"]


def test_concurrent_saves_one_wins(client, run_dirs):
    _, ids = run_dirs
    doc = client.get(f"/api/docs/{ids[2]}", headers=auth(client)).json()
    body = {"version": doc["version"], "masks": doc["masks"]}
    codes = []
    threads = [threading.Thread(target=lambda: codes.append(
        client.post(f"/api/save/{ids[2]}", json=body, headers=auth(client)).status_code)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409, 409, 409]


def test_a_save_recomputes_the_outputs_and_keeps_the_corrections(client, run_dirs):
    _, ids = run_dirs
    doc_id = ids[0]
    doc = client.get(f"/api/docs/{doc_id}", headers=auth(client)).json()
    text = doc["text"]
    candidates = sorted((m for m in doc["masks"] if m["source"] == "candidate"), key=lambda m: m["confidence"])
    assert candidates, "the run's candidates reach the review with their confidence"
    unmasked = candidates[0]
    surface = text[unmasked["start"]:unmasked["end"]]
    # the reviewer unmasks every mask of that string, and masks a word the run left
    kept = [m for m in doc["masks"] if text[m["start"]:m["end"]] != surface]
    word = "applicant"
    every = [m.start() for m in re.finditer(r"(?<!\w)applicant(?!\w)", text)]
    start = every[0]
    added = {"start": start, "end": start + len(word), "label": "DEM", "source": "reviewer", "confidence": None}
    offered = client.get(f"/api/occurrences/{doc_id}?start={start}&end={start + len(word)}", headers=auth(client)).json()
    assert offered["text"] == word and len(every) > 1
    assert [o["start"] for o in offered["occurrences"]] == every[1:]
    masks = sorted(kept + [added] + [{"start": o["start"], "end": o["end"], "label": "DEM"} for o in offered["occurrences"]],
                   key=lambda m: m["start"])
    r = client.post(f"/api/save/{doc_id}", json={"version": 0, "masks": masks, "accept": True}, headers=auth(client))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reviewed"
    out_text = (client.dirs / "out" / "text" / f"{file_name(doc_id)}.txt").read_text(encoding="utf8")
    assert word not in out_text.split() and "[DEM]" in out_text
    assert surface in out_text  # unmasked everywhere, so readable
    spans = [json.loads(line) for line in (client.dirs / "out" / "spans.jsonl").read_text(encoding="utf8").splitlines()]
    assert [s["doc_id"] for s in spans] == ids and all("text" not in r for s in spans for r in s["replacements"])
    # the corrections: TAB JSON, the reviewer's layer, DIRECT/QUASI/NO_MASK set
    corrections = json.loads((client.dirs / "review" / "review" / "corrections.json").read_text(encoding="utf8"))
    assert [d["doc_id"] for d in corrections] == [doc_id]
    mentions = corrections[0]["annotations"]["alice"]["entity_mentions"]
    assert {(m["start_offset"], m["end_offset"]) for m in mentions if m["identifier_type"] != "NO_MASK"} == \
        {(m["start"], m["end"]) for m in masks}
    assert any(m["span_text"] == surface and m["identifier_type"] == "NO_MASK" for m in mentions)
    assert all(m["identifier_type"] == "DIRECT" for m in mentions if m["entity_type"] == "PERSON")
    audit = [json.loads(line) for line in (client.dirs / "review" / "review" / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["reviewer"] == "alice" and audit[-1]["accepted"] is True
    assert any(a["text"] == word for a in audit[-1]["added"]) and any(u["text"] == surface for u in audit[-1]["unmasked"])
    # nothing original in the anonymized folder
    assert not list((client.dirs / "out").rglob("corrections.json"))
    # corrections -> convert_tab -> a corpus with the reviewer's layer
    corpus = client.dirs / "reviewed.spacy"
    convert_tab_file(client.dirs / "review" / "review" / "corrections.json", corpus, policy="per-annotator")
    docs = list(DocBin().from_disk(corpus).get_docs(spacy.blank("en").vocab))
    assert len(docs) == 1 and docs[0].text == text
    ents = {(e.start_char, e.end_char, e.label_) for e in docs[0].ents}
    assert (added["start"], added["end"], "DEM") in ents
    assert {m.annotator for m in tab_mentions(docs[0])} == {"alice"}


def test_bad_masks_are_refused_with_a_reason(client, run_dirs):
    _, ids = run_dirs
    bad = [{"start": 5, "end": 2, "label": "PERSON"}]
    r = client.post(f"/api/save/{ids[3]}", json={"version": 0, "masks": bad}, headers=auth(client))
    assert r.status_code == 400 and "outside the text" in r.json()["error"]
    r = client.post(f"/api/save/{ids[3]}", json={"version": 0, "masks": [{"start": 0, "end": 3, "label": "NAME"}]},
                    headers=auth(client))
    assert r.status_code == 400 and "unknown label" in r.json()["error"]


def test_a_failed_write_changes_nothing(client, run_dirs, monkeypatch):
    _, ids = run_dirs
    before = (client.dirs / "out" / "text" / f"{file_name(ids[3])}.txt").read_text(encoding="utf8")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ReviewOutputs, "__call__", full_disk)
    r = client.post(f"/api/save/{ids[3]}", json={"version": 0, "masks": []}, headers=auth(client))
    assert r.status_code == 500 and "nothing was changed" in r.json()["error"]
    assert client.get(f"/api/docs/{ids[3]}", headers=auth(client)).json()["version"] == 0
    assert (client.dirs / "out" / "text" / f"{file_name(ids[3])}.txt").read_text(encoding="utf8") == before


def test_the_review_command_binds_loopback_warns_otherwise_and_refuses_a_non_review_folder(run_dirs, tmp_path,
                                                                                         monkeypatch, capsys):
    import uvicorn

    base, _ = run_dirs
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: started.append((host, port)))
    assert main(["review", str(base / "review"), "--reviewer", "alice"]) == 0
    out = capsys.readouterr()
    assert started[-1][0] == "127.0.0.1" and f"http://127.0.0.1:{started[-1][1]}/?token=" in out.out
    assert "WARNING" not in out.err
    assert main(["review", str(base / "review"), "--reviewer", "alice", "--host", "0.0.0.0", "--port", "8765"]) == 0
    assert started[-1] == ("0.0.0.0", 8765) and "WARNING: --host 0.0.0.0 exposes" in capsys.readouterr().err
    assert main(["review", str(base / "out"), "--reviewer", "alice"]) == 2  # the anonymized folder is no review folder
    assert "no run.json" in capsys.readouterr().err
