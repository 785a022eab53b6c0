"""How much a reviewer has to do: the gold masks of TAB judgments played through the review API.

    python -m scripts.review_effort assets/tab_subset/echr_dev.json -m en_legal_anon \
        --thresholds 0.02,0.4 [--walk 5,10,20] [--out reports/review_effort.json]

For each threshold the judgments are anonymized by the command line with ``--review-dir``
(as a court would), then, judgment by judgment, the gold annotation (its masked mentions)
is played through the review app's own API as a reviewer with the page's keys would:

* **unmask**: one action per model mask that touches no gold mention (``x``); when the
  same string has other such masks, one more action (``a``) unmasks them all;
* **add**: one action per gold mention that no model mask matches exactly (select, label
  key), a model mask in its place being unmasked first (counted as an unmask); when the
  same string has other unmatched gold mentions, one more action (``a``) masks them all;
* **relabel**: a model mask with the gold boundaries and another label (counted apart);
* then a save, which must be accepted and must mask every gold mention.

It also walks the recall-control masks in the page's "next uncertain" order (``n``, least
confident first) and counts, for the first N steps, how many were false alarms (touch no
gold mention: the walk finds them for unmasking) and how many were needed (cover a gold
mention the tagger's doc.ents missed).
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import typer

from legal_anon.corpus.convert_tab import load_tab_json
from legal_anon.corpus.tab import MASKED_IDENTIFIER_TYPES

Span = Tuple[int, int, str]


def gold_masks(record: Dict) -> List[Span]:
    """The first annotator's masked mentions, overlaps resolved longest first."""
    layer = next(iter(record["annotations"].values()))
    spans = sorted({(m["start_offset"], m["end_offset"], m["entity_type"]) for m in layer["entity_mentions"]
                    if m["identifier_type"] in MASKED_IDENTIFIER_TYPES}, key=lambda s: (s[0] - s[1], s[0]))
    kept: List[Span] = []
    for s in spans:
        if all(s[1] <= k[0] or k[1] <= s[0] for k in kept):
            kept.append(s)
    return sorted(kept)


def norm(s: str) -> str:
    return " ".join(s.split())


def play(text: str, masks: List[Dict], gold: List[Span]) -> Tuple[Counter, List[Dict]]:
    """The actions that turn the model's masks into the gold masks, and the final masks."""
    actions: Counter = Counter()
    touches = lambda m: any(g[0] < m["end"] and m["start"] < g[1] for g in gold)  # noqa: E731
    # unmask what touches no gold mention, string by string (x, then a for the rest)
    wrong = defaultdict(list)
    for m in masks:
        if not touches(m):
            wrong[norm(text[m["start"]:m["end"]])].append(m)
    for surface, ms in wrong.items():
        actions["unmask"] += 1 + (len(ms) > 1)
    kept = [m for m in masks if touches(m)]
    exact = {(m["start"], m["end"]): m for m in kept}
    # a kept mask that is not exactly a gold mention is unmasked, its gold mention added below
    gold_keys = {(g[0], g[1]) for g in gold}
    actions["unmask"] += sum(1 for k in exact if k not in gold_keys)
    missing = defaultdict(list)
    for g in gold:
        m = exact.get((g[0], g[1]))
        if m is None:
            missing[norm(text[g[0]:g[1]])].append(g)
        elif m["label"] != g[2]:
            actions["relabel"] += 1
    for surface, gs in missing.items():
        actions["add"] += 1 + (len(gs) > 1)
    final = [{"start": g[0], "end": g[1], "label": g[2]} for g in gold]
    return actions, final


def walk(masks: List[Dict], gold: List[Span], steps: List[int]) -> Dict[int, Counter]:
    """The first N masks of the page's uncertain walk: false alarms and needed masks."""
    order = sorted((m for m in masks if m.get("confidence") is not None), key=lambda m: (m["confidence"], m["start"]))
    out = {}
    for n in steps:
        c: Counter = Counter()
        for m in order[:n]:
            c["visited"] += 1
            c["false_alarm" if not any(g[0] < m["end"] and m["start"] < g[1] for g in gold) else "needed"] += 1
        out[n] = c
    return out


def review_with_gold(tab_json: Path, model: str, threshold: str, work: Path, steps: List[int],
                     only: Optional[List[str]] = None) -> Dict:
    """Anonymize ``tab_json`` into ``work`` with ``--review-dir``, then play the gold masks of
    every judgment (or of ``only``) through the review API; ``work/review/review/corrections.json``
    holds the result as TAB JSON."""
    from fastapi.testclient import TestClient

    from legal_anon.cli import main as cli
    from legal_anon.review.app import create_app
    from legal_anon.review.outputs import ReviewOutputs
    from legal_anon.review.store import ReviewStore

    records = {r["doc_id"]: r for r in load_tab_json(tab_json)}
    rc = cli(["anonymize", str(tab_json), "-m", model, "-o", str(work / "out"), "--review-dir",
              str(work / "review"), "-f", "text,json", "-q", "--mask-threshold", threshold])
    if rc != 0:
        raise SystemExit(f"anonymize failed at threshold {threshold} (exit {rc})")
    store = ReviewStore(work / "review")
    token = "effort"
    client = TestClient(create_app(store, ReviewOutputs(store.run), "gold", token, ["testserver"]))
    page = client.get(f"/?token={token}").text
    csrf = page.split("name='csrf-token' content='")[1].split("'")[0]
    headers = {"X-Review-Token": token, "X-CSRF-Token": csrf}
    total: Counter = Counter()
    walks = {n: Counter() for n in steps}
    for doc_id in store.doc_ids:
        if only is not None and doc_id not in only:
            continue
        doc = client.get(f"/api/docs/{doc_id}", headers=headers).json()
        gold = gold_masks(records[doc_id])
        actions, final = play(doc["text"], doc["masks"], gold)
        r = client.post(f"/api/save/{doc_id}", json={"version": doc["version"], "masks": final, "accept": True},
                        headers=headers)
        if r.status_code != 200:
            raise SystemExit(f"{doc_id}: the save was refused: {r.text}")
        saved = json.loads((work / "out" / "spans.jsonl").read_text(encoding="utf8").splitlines()[
            store.doc_ids.index(doc_id)])
        masked = {i for x in saved["replacements"] for i in range(x["start"], x["end"])}
        unmasked_gold = [g for g in gold if any(i not in masked and not doc["text"][i].isspace()
                                                for i in range(g[0], g[1]))]
        if unmasked_gold:
            raise SystemExit(f"{doc_id}: gold mentions left unmasked after the save: {unmasked_gold[:3]}")
        total.update(actions)
        total["documents"] += 1
        total["gold_mentions"] += len(gold)
        total["model_masks"] += len(doc["masks"])
        for n, c in walk(doc["masks"], gold, steps).items():
            walks[n].update(c)
    return {"actions": dict(total), "walk": {n: dict(c) for n, c in walks.items()}}


def main(
    tab_json: Path = typer.Argument(..., help="TAB JSON with gold annotations (e.g. assets/tab_subset/echr_dev.json)"),
    model: str = typer.Option("en_legal_anon", "-m", "--model"),
    thresholds: str = typer.Option("0.02,0.4", help="--mask-threshold values to measure"),
    walk_steps: str = typer.Option("5,10,20", "--walk", help="steps of the uncertain walk to report"),
    out: Optional[Path] = typer.Option(None, "--out", help="also write the figures as JSON"),
):
    steps = [int(s) for s in walk_steps.split(",")]
    report = {}
    for threshold in thresholds.split(","):
        work = Path(tempfile.mkdtemp(prefix="review_effort_"))
        try:
            report[threshold] = review_with_gold(tab_json, model, threshold, work, steps)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print("| threshold | documents | gold mentions | model masks | unmask | add | relabel | unmask + add per document |")
    print("|---|---|---|---|---|---|---|---|")
    for t, r in report.items():
        a = r["actions"]
        print(f"| {t} | {a['documents']} | {a['gold_mentions']} | {a['model_masks']} | {a.get('unmask', 0)} | "
              f"{a.get('add', 0)} | {a.get('relabel', 0)} | {(a.get('unmask', 0) + a.get('add', 0)) / a['documents']:.1f} |")
    print("\n| threshold | first N uncertain masks per document | visited | false alarms | needed |")
    print("|---|---|---|---|---|")
    for t, r in report.items():
        for n, c in r["walk"].items():
            print(f"| {t} | {n} | {c.get('visited', 0)} | {c.get('false_alarm', 0)} | {c.get('needed', 0)} |")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2), encoding="utf8")


if __name__ == "__main__":
    typer.run(main)
