"""Write the meta.json that `spacy package` ships with en_legal_anon.

It starts from the pipeline's own meta.json and adds: name, version, description,
licence, the training data (which files, how many documents and masked mentions, per
entity type; the TAB source or the synthetic sample corpus), the evaluation figures
(every --eval-json: top-level numbers go to ``performance``, which the package README
shows; the full reports go to ``evaluation``), the anonymizer configuration, and the
``legal-anon`` requirement that provides the custom code.

    python -m scripts.package_meta training/en_legal_anon training/en_legal_anon.meta.json \
        --version 0.1.0 --train-json assets/sample/train.json --dev-json assets/sample/dev.json \
        --test-json assets/sample/test.json --eval-json reports/eval_bilstm_crf.json
"""
from __future__ import annotations

import glob
import json
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Optional

import typer

from legal_anon.corpus.convert_tab import load_tab_json
from legal_anon.corpus.tab import MASKED_IDENTIFIER_TYPES

TAB_SOURCE = {
    "name": "Text Anonymization Benchmark (TAB), ECHR judgments",
    "url": "https://github.com/NorskRegnesentral/text-anonymization-benchmark",
    "author": "Pilán et al. (2022), Norsk Regnesentral",
    "license": "MIT",
}
SAMPLE_SOURCE = {
    "name": "en_legal_anon synthetic sample corpus (fictional ECHR-style judgments, TAB schema)",
    "author": "en_legal_anon project (scripts/make_sample_corpus.py)",
    "license": "MIT",
}

def describe_tab_file(path: Path) -> Dict:
    """Documents, characters and masked mentions per entity type of a TAB JSON file."""
    if not path.exists():
        return {"path": str(path), "missing": True}
    data = load_tab_json(path)
    types: Counter = Counter()
    identifier: Counter = Counter()
    annotators = set()
    for doc in data:
        for ann, layer in (doc.get("annotations") or {}).items():
            annotators.add(ann)
            for m in layer.get("entity_mentions", []):
                identifier[m.get("identifier_type")] += 1
                if m.get("identifier_type") in MASKED_IDENTIFIER_TYPES:
                    types[m.get("entity_type")] += 1
    return {
        "path": str(path),
        "documents": len(data),
        "characters": sum(len(d.get("text", "")) for d in data),
        "annotators": sorted(annotators),
        "mentions_by_identifier_type": dict(identifier),
        "masked_mentions_by_entity_type": dict(types.most_common()),
        "source": "sample" if is_sample(path, data) else "tab",
    }


def is_sample(path: Path, data: List[dict]) -> bool:
    return "sample" in str(path) or any(str(d.get("doc_id", "")).startswith("sample-") for d in data[:5])


def read_eval(path: Path) -> Optional[Dict]:
    if not path.exists():
        typer.echo(f"package_meta: warning: evaluation file {path} not found; skipped", err=True)
        return None
    try:
        return json.loads(path.read_text(encoding="utf8"))
    except json.JSONDecodeError as e:
        typer.echo(f"package_meta: warning: {path} is not JSON ({e}); skipped", err=True)
        return None


def ablation_summary(ablation: Dict) -> Dict:
    """The ablation table (mean and sd over seeds per row) without the per-seed detail."""
    return {
        "dev_json": ablation.get("dev_json"),
        "seeds": ablation.get("seeds"),
        "mask_threshold": ablation.get("threshold"),
        "md_words_per_second": ablation.get("md_words_per_second"),
        "rows": [
            {"label": row["label"], "config": row.get("config"), "mask_threshold": row.get("mask_threshold"),
             "entity_consistency": row.get("entity_consistency"),
             **{k: {"mean": v["mean"], "sd": v["sd"]} for k, v in row["stats"].items()}}
            for row in ablation.get("rows", [])
        ],
        "command": ablation.get("command"),
        "table": "docs/ablation.md",
    }


def operating_points_summary(table: Dict) -> Dict:
    """scripts/operating_points.py's table (held-out privacy and balanced points, typed F1,
    speed; mean and sd over seeds per variant) without the curves and per-seed detail."""
    return {
        "dev_json": table.get("dev_json"),
        "seeds": table.get("seeds"),
        "target_recall": table.get("target_recall"),
        "md_words_per_second": table.get("md_words_per_second"),
        "rows": [
            {"variant": row["variant"], "config": row.get("config"),
             "thresholds_in_sample": [p["threshold_in_sample"] for p in row.get("per_seed", [])],
             **{k: {"mean": v["mean"], "sd": v["sd"]} for k, v in row["stats"].items()}}
            for row in table.get("rows", [])
        ],
        "command": table.get("command"),
        "table": "docs/operating_points.md",
    }


GENERIC_STEMS = ("tab_metrics", "metrics", "scores", "results", "evaluation", "evaluate")


def report_name(path: Path) -> str:
    """reports/bilstm_crf/tab_metrics.json -> bilstm_crf/tab_metrics; reports/eval_x.json -> eval_x."""
    return f"{path.parent.name}/{path.stem}" if path.stem in GENERIC_STEMS and path.parent.name else path.stem


def headline_figures(report) -> Dict[str, float]:
    """Numbers at the top two levels of a report (spaCy's evaluate output, or the TAB
    report's ``tab``/``ner`` sections); ``{"value": x, "num": .., "den": ..}`` counts as x.
    Per-type tables (deeper levels) stay in ``evaluation`` only."""
    out: Dict[str, float] = {}

    def number(v):
        # scores are fractions; counts (n_documents ...) stay out of the headline
        if isinstance(v, bool):
            return None
        if isinstance(v, float) or (isinstance(v, int) and v in (0, 1)):
            return v
        if isinstance(v, dict) and isinstance(v.get("value"), (int, float)) and not isinstance(v.get("value"), bool):
            return v["value"]
        return None

    if not isinstance(report, dict):
        return out
    for key, value in report.items():
        n = number(value)
        if n is not None:
            out[key] = n
        elif isinstance(value, dict):
            for k2, v2 in value.items():
                n2 = number(v2)
                if n2 is not None:
                    out[k2 if k2 not in out else f"{key}_{k2}"] = n2
    return out


def main(
    pipeline: Path = typer.Argument(..., exists=True, file_okay=False, help="Pipeline directory (with meta.json)"),
    output: Path = typer.Argument(..., help="Where to write the package meta.json"),
    name: str = typer.Option("legal_anon", "--name"),
    version: str = typer.Option("0.1.0", "--version"),
    train_json: Optional[Path] = typer.Option(None, "--train-json"),
    dev_json: Optional[Path] = typer.Option(None, "--dev-json"),
    test_json: Optional[Path] = typer.Option(None, "--test-json", help="The test split; the dev file itself (no test split) is recorded as such, not described as a test set"),
    eval_json: List[Path] = typer.Option([], "--eval-json", help="Evaluation reports (repeatable)"),
    eval_glob: List[str] = typer.Option([], "--eval-glob", help="Glob(s) for evaluation reports, e.g. 'reports/eval*.json'"),
    ablation_json: Optional[Path] = typer.Option(None, "--ablation-json", help="scripts/ablation.py's JSON (docs/ablation.json): its table goes to meta['ablation']"),
    operating_points_json: Optional[Path] = typer.Option(None, "--operating-points-json", help="scripts/operating_points.py's JSON (docs/operating_points.json): its table goes to meta['operating_points']"),
    train_policy: Optional[str] = typer.Option(None, "--train-policy", help="Annotator policy used for training"),
    description: Optional[str] = typer.Option(None, "--description"),
):
    meta = json.loads((pipeline / "meta.json").read_text(encoding="utf8"))
    meta["name"] = name
    meta["version"] = version
    ner = [p for p in meta.get("pipeline", []) if p != "anonymizer"]
    meta["description"] = description or (
        "Finds and masks personal and identifying information in English legal documents "
        f"(ECHR judgments). Pipeline: {', '.join(meta.get('pipeline', []))}. "
        "doc._.anonymized holds the masked text, doc._.anon_replacements the replacements "
        "with original and new offsets. Entity types follow the Text Anonymization Benchmark: "
        "PERSON, CODE, LOC, ORG, DEM, DATETIME, QUANTITY, MISC."
    )
    meta.setdefault("author", "en_legal_anon project")
    meta["license"] = meta.get("license") or "MIT"
    if not meta.get("url"):
        meta["url"] = "https://github.com/NorskRegnesentral/text-anonymization-benchmark"

    data = {}
    for split, path in (("train", train_json), ("dev", dev_json), ("test", test_json)):
        if path is None:
            continue
        if split == "test" and dev_json is not None and path.resolve() == dev_json.resolve():
            data["test"] = {"path": str(path), "same_as": "dev",
                            "note": "no test split: the dev judgments, which chose the checkpoint and the threshold"}
        else:
            data[split] = describe_tab_file(path)
    if train_policy:
        data["train_policy"] = train_policy
    if data:
        meta["training_data"] = data
        kinds = {d.get("source") for d in data.values() if isinstance(d, dict)}
        meta["sources"] = ([TAB_SOURCE] if "tab" in kinds else []) + ([SAMPLE_SOURCE] if "sample" in kinds else [])

    performance: Dict = {}
    evaluation: Dict = {}
    for pattern in eval_glob:
        matches = sorted(Path(m) for m in glob.glob(pattern))
        if not matches:
            typer.echo(f"package_meta: warning: no evaluation reports match {pattern!r}", err=True)
        eval_json = list(eval_json) + [m for m in matches if m not in eval_json]
    reports = [(report_name(p), r) for p in eval_json for r in [read_eval(p)] if r is not None]
    for name_, report in reports:
        evaluation[name_] = report
        for key, value in headline_figures(report).items():
            performance[key if key not in performance else f"{name_}:{key}"] = value
    if performance:
        # figures of the evaluation replace the dev scores recorded during training
        meta["training_scores"] = meta.get("performance", {})
        meta["performance"] = performance
    if evaluation:
        meta["evaluation"] = evaluation

    if ablation_json is not None:
        ablation = read_eval(ablation_json)
        if ablation is not None:
            meta["ablation"] = ablation_summary(ablation)
    if operating_points_json is not None:
        table = read_eval(operating_points_json)
        if table is not None:
            meta["operating_points"] = operating_points_summary(table)

    config_path = pipeline / "config.cfg"
    if config_path.exists() and "anonymizer" in meta.get("pipeline", []):
        from spacy.util import load_config

        cfg = load_config(config_path)
        anon = dict(cfg["components"]["anonymizer"])
        meta["anonymizer"] = {k: anon[k] for k in ("default_operator", "operators", "mask_all_occurrences",
                                                   "mask_name_parts", "entity_consistency", "candidates_key",
                                                   "min_length", "salt_env") if k in anon}
        taggers = [c for c in cfg["components"].values() if c.get("factory") in ("bilstm_crf_ner", "crf_ner")]
        if taggers:
            meta["anonymizer"]["mask_threshold"] = taggers[0].get("mask_threshold")
    try:
        own = metadata.version("legal-anon")
        major, minor = own.split(".")[:2]
        req = f"legal-anon>={own},<{major}.{int(minor) + 1}.0"
        reqs = [r for r in meta.get("requirements", []) if not r.replace("_", "-").startswith("legal-anon")]
        meta["requirements"] = reqs + [req]
    except metadata.PackageNotFoundError:
        typer.echo("package_meta: warning: legal-anon is not installed; requirement not added", err=True)

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf8")
    summary = ", ".join(f"{k}={v:.3f}" for k, v in list(performance.items())[:6] if isinstance(v, float))
    typer.echo(f"package_meta: wrote {output} ({name} {version}; NER pipes {ner}; "
               f"{len(evaluation)} evaluation report(s){'; ' + summary if summary else ''})")


if __name__ == "__main__":
    typer.run(main)
