"""What still leaks: the gold identifiers a pipeline's anonymized output leaves readable.

    python -m scripts.leak_report MODEL GOLD.json [--mask-threshold P|off] [--no-consistency]
        [--out reports/NAME/leaks.md]

For TAB gold (all annotators) and the anonymizer's output, lists

* entities that are **partly** masked: some mentions hidden, others readable (what
  entity-level consistency is for), each unmasked mention with its context and whether the
  annotator marked that mention itself as needing masking or only its entity (TAB's token
  recall counts both);
* entities **entirely** missed, by entity type, with the most frequent surface forms;
* totals of unmasked word tokens in each class, so that the classes that matter stand out.

The report quotes gold identifiers from the input: it is review material, written where you
say (default ``reports/leaks.md``), never into an anonymized output folder.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer

from legal_anon.corpus.convert_tab import load_tab_json
from legal_anon.eval import tab_gold, tab_metrics as tm, tab_output
from legal_anon.eval.evaluate_tab import POS_MODEL_OPTION


def leaks(gold: Dict[str, tab_gold.GoldDocument], system: Dict[str, List[tab_gold.CharSpan]]) -> Dict[str, Any]:
    """Partly masked entities (mention by mention) and missed entities (by type)."""
    partial: List[Dict[str, Any]] = []
    missed: Dict[str, Counter] = defaultdict(Counter)
    tokens = Counter()
    for doc_id, doc in gold.items():
        masked = tm._offsets(tab_output.normalize_spans(system.get(doc_id, [])))
        for ent in doc.entities_to_mask():
            status = [tm.is_mention_masked(s, e, masked, doc.forgiven) for s, e in ent.mentions]
            unmasked = [
                (s, e, need) for (s, e), ok, need in zip(ent.mentions, status, ent.mention_needs_masking) if not ok
            ]
            n_tokens = sum(
                1 for s, e, _ in unmasked for a, b in tm.word_tokens(doc.text, s, e)
                if not tm.is_mention_masked(a, b, masked, doc.forgiven)
            )
            if not unmasked:
                continue
            if any(status):
                tokens["partly masked entities"] += n_tokens
                masked_forms = sorted({doc.text[s:e] for (s, e), ok in zip(ent.mentions, status) if ok})
                for s, e, need in unmasked:
                    partial.append({
                        "doc_id": doc_id, "type": ent.entity_type, "mention": doc.text[s:e],
                        "marked": "needs masking" if need else "NO_MASK mention of a masked entity",
                        "masked_forms": masked_forms[:3],
                        "context": " ".join(doc.text[max(0, s - 50):e + 30].split()),
                    })
            else:
                tokens[f"missed entities: {ent.entity_type}"] += n_tokens
                for s, e, _ in unmasked:
                    missed[ent.entity_type][" ".join(doc.text[s:e].split())] += 1
    return {"tokens": dict(tokens), "partial": partial,
            "missed": {t: c.most_common() for t, c in sorted(missed.items())}}


def markdown(result: Dict[str, Any], model: str, gold_path: Path, tab: Dict[str, Any]) -> str:
    lines = [
        f"# What `{model}` leaves readable in `{gold_path}`",
        "",
        f"Anonymizer output, all annotators: token recall {tab['token_recall']['value']:.4f}, "
        f"ER_di {tab['ER_di']['value']:.4f}, ER_qi {tab['ER_qi']['value']:.4f}, "
        f"uniform token precision {tab['uniform_token_precision']['value']:.4f}.",
        "",
        "| unmasked word tokens | count |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v} |" for k, v in sorted(result["tokens"].items(), key=lambda kv: -kv[1])]
    lines += ["", "## Partly masked entities", "", "| doc | type | readable mention | gold says | masked as | context |",
              "|---|---|---|---|---|---|"]
    for p in result["partial"]:
        lines.append(f"| {p['doc_id']} | {p['type']} | {p['mention']} | {p['marked']} | "
                     f"{'; '.join(p['masked_forms'])} | {p['context'].replace('|', '/')} |")
    lines += ["", "## Entities missed entirely (surface forms, most frequent first)", ""]
    for t, forms in result["missed"].items():
        lines.append(f"* **{t}**: " + "; ".join(f"{f} ({n})" if n > 1 else f for f, n in forms[:25]))
    return "\n".join(lines) + "\n"


def main(
    model: str = typer.Argument(..., help="Pipeline directory or package name"),
    gold_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="TAB JSON gold (all annotators)"),
    mask_threshold: Optional[str] = typer.Option(None, "--mask-threshold", help="A probability, or 'off' (default: as configured)"),
    no_consistency: bool = typer.Option(False, "--no-consistency", help="Turn the anonymizer's entity-level consistency off"),
    out: Path = typer.Option(Path("reports/leaks.md"), "--out", help="Markdown report (quotes gold identifiers: review material)"),
    pos_model: str = POS_MODEL_OPTION,
):
    """List the identifiers of GOLD that MODEL's anonymized output leaves readable."""
    from legal_anon.engines.local import parse_mask_threshold
    from legal_anon.eval.evaluate_tab import load_for_evaluation

    records = load_tab_json(gold_path)
    gold = tab_gold.gold_from_records(records, tab_gold.load_pos_pipeline(pos_model), str(gold_path))
    nlp = load_for_evaluation(model, "anonymizer", parse_mask_threshold(mask_threshold), False if no_consistency else None)
    docs = nlp.pipe((r["text"] for r in records), batch_size=4)
    system = {r["doc_id"]: tab_output.masked_spans_from_anonymizer(d) for r, d in zip(records, docs)}
    result = leaks(gold, system)
    report = markdown(result, model, gold_path, tm.tab_scores(gold, system))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf8")
    out.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf8")
    typer.echo(report.split("## Partly")[0])
    typer.echo(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    typer.run(main)
