"""The review page in a real browser (Debian's Chromium, driven by Playwright): load a
document, walk to the least confident mask and unmask it, mask a selected word from the
keyboard, save; then the TAB JSON and the anonymized text on disk say so."""
from __future__ import annotations

import json
import re
import shutil
import threading
import time

import pytest

from legal_anon.io.sinks import file_name
from legal_anon.review.serve import build, free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# the flags this offline machine needs (no background traffic, no sandbox as root)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture()
def server(review_run_copy):
    import uvicorn

    if CHROMIUM is None:
        pytest.skip("no Chromium: `apt-get install chromium` (.ci/run installs it)")
    pytest.importorskip("playwright")
    port = free_port("127.0.0.1")
    app, url, _ = build(review_run_copy / "review", "bob", "127.0.0.1", port)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield url, review_run_copy
    srv.should_exit = True
    thread.join(timeout=10)


def test_review_in_a_real_browser(server, run_dirs):
    from playwright.sync_api import sync_playwright

    url, folder = server
    _, ids = run_dirs
    doc_id = ids[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        page.wait_for_selector("table#documents tr[data-doc]")
        assert page.locator("table#documents tr[data-doc]").count() == len(ids)
        page.goto(url.split("?")[0] + f"doc/{doc_id}")  # the cookie carries the token now
        page.wait_for_selector("#text mark")
        n_masks = page.locator("#text mark").count()
        candidates = page.locator("#text mark.candidate").count()
        assert candidates > 0
        # n: the least confident mask; x: unmask it
        page.keyboard.press("n")
        focused = page.evaluate("() => document.querySelector('mark.focus').firstChild.textContent")
        page.keyboard.press("x")
        assert page.locator("#text mark").count() == n_masks - 1
        if page.locator("#offer").count():
            page.keyboard.press("a")  # unmask the other masks of that string too
        # select the word "lawyer" (the first one that is not masked) and press 1 (the first label)
        start = page.evaluate("""() => {
            const spans = [...document.querySelectorAll('#text > span[data-s]')];
            for (const s of spans) {
                const node = s.firstChild; const i = node.textContent.search(/\\blawyer\\b/);
                if (i >= 0) { const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 6);
                    const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(r);
                    return +s.dataset.s + i; }
            }
            return -1; }""")
        assert start >= 0
        labels = page.evaluate("() => [...document.querySelectorAll('aside#help dt')].map(d => d.textContent)")
        assert "n / p" in labels and "x or Delete" in labels  # the shortcuts are listed on the page
        page.keyboard.press("1")
        page.wait_for_selector("#message")
        if page.locator("#offer").count():
            page.keyboard.press("Escape")
        page.keyboard.press("s")
        page.wait_for_function("() => document.querySelector('#status').textContent.includes('version 1')")
        assert not errors, errors
        browser.close()
    corrections = json.loads((folder / "review" / "review" / "corrections.json").read_text(encoding="utf8"))
    mentions = corrections[0]["annotations"]["bob"]["entity_mentions"]
    assert any(m["start_offset"] == start and m["span_text"] == "lawyer" and m["entity_type"] == "PERSON"
               and m["identifier_type"] == "DIRECT" for m in mentions)
    assert any(m["span_text"] == focused and m["identifier_type"] == "NO_MASK" for m in mentions)
    out_text = (folder / "out" / "text" / f"{file_name(doc_id)}.txt").read_text(encoding="utf8")
    # the run's anonymizer masked the new string everywhere (its all-occurrences rule)
    assert not re.search(r"(?<!\w)lawyer(?!\w)", out_text)
    assert focused in out_text
