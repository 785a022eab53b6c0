"""PNG plots of evaluation results and training curves (matplotlib, Agg backend).

    python -m scripts.plot_scores --scores reports/NAME/tab_metrics.json \
        --train-log training/NAME/train_log.jsonl --out-dir reports/NAME

Writes to --out-dir:

* ``per_type_prf.png``             precision / recall / F1 bars per entity type. Read from a
                                   ``tab_metrics.json`` (scripts/evaluate_tab.py: seqeval strict
                                   IOB2) or a ``spacy evaluate --output`` JSON
                                   (``spans_seqeval_per_type`` when the pipeline uses the seqeval
                                   scorer and ``--spans-key seqeval`` was given, else ``ents_per_type``).
* ``tab_token_recall_per_type.png`` TAB token-level recall per entity type (tab_metrics.json only).
* ``training_curves.png``          losses and dev scores against the training step, read from a
                                   ``spacy train`` log: the JSONL file written by
                                   ``spacy.ConsoleLogger.v3``'s ``output_file`` (one object per
                                   evaluation: epoch, step, losses, scores, score), or the console
                                   table that ``spacy train`` prints (saved with ``> train.log``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import typer

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ----------------------------------------------------------------------------- logs

def parse_console_log(text: str) -> List[Dict[str, Any]]:
    """Rows of the table printed by spaCy's console logger.

    Header: ``E  #  LOSS TOK2VEC  LOSS NER  ENTS_F ... SCORE`` (columns separated by two
    or more spaces). Scores are printed in percent (0-100); they are returned in 0-1,
    like the JSONL log. The last table in the text is used (a log may hold several runs).
    """
    rows: List[Dict[str, Any]] = []
    header: Optional[List[str]] = None
    for line in text.splitlines():
        line = _ANSI.sub("", line).rstrip()
        cols = re.split(r"\s{2,}", line.strip())
        if len(cols) >= 3 and cols[0] == "E" and cols[1] == "#":
            header, rows = cols, []
            continue
        if header is None:
            continue
        parts = line.split()
        if len(parts) != len(header):
            continue
        try:
            values = [float(p) for p in parts]
        except ValueError:
            continue
        row: Dict[str, Any] = {"epoch": int(values[0]), "step": int(values[1]), "losses": {}, "scores": {}}
        for name, v in zip(header[2:], values[2:]):
            if name.upper().startswith("LOSS "):
                row["losses"][name[5:].strip().lower()] = v
            elif name.upper() == "SCORE":
                row["score"] = v
            elif name.upper() == "SPEED":
                row["scores"]["speed"] = v
            else:
                row["scores"][name.lower()] = v / 100.0
        rows.append(row)
    return rows


def parse_jsonl_log(text: str) -> List[Dict[str, Any]]:
    """Rows of the JSONL log of ``spacy.ConsoleLogger.v3`` (``output_file``).

    spaCy writes the scores there multiplied by 100 (as in the console, speed excepted);
    they are returned in 0-1."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        d = json.loads(line)
        scores = {k.lower(): (v if k == "speed" else v / 100.0) for k, v in d.get("scores", {}).items()}
        rows.append({"epoch": d["epoch"], "step": d["step"], "losses": d.get("losses", {}),
                     "scores": scores, "score": d.get("score")})
    return rows


def load_train_log(path: Path) -> List[Dict[str, Any]]:
    text = Path(path).read_text(encoding="utf8", errors="replace")
    first = text.lstrip()[:1]
    rows = parse_jsonl_log(text) if first == "{" else parse_console_log(text)
    if not rows:
        raise ValueError(f"{path}: no training log rows found (expected spaCy's console table or JSONL log)")
    return rows


# ----------------------------------------------------------------------------- scores

def load_per_type(path: Path) -> Tuple[Dict[str, Dict[str, float]], str]:
    """({type: {"p","r","f"}} in 0-1, description of the source)."""
    data = json.loads(Path(path).read_text(encoding="utf8"))
    if "tab" in data and data.get("ner"):
        return data["ner"]["seqeval_per_type"], "seqeval (strict, IOB2)"
    for key, desc in (("seqeval_per_type", "seqeval (strict, IOB2)"),
                      ("spans_seqeval_per_type", "seqeval (strict, IOB2)"),
                      ("ents_per_type", "spaCy ents")):
        if data.get(key):
            return data[key], desc
    raise ValueError(f"{path}: no per-type scores (tab_metrics.json 'ner', seqeval_per_type, "
                     f"spans_seqeval_per_type or ents_per_type)")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_per_type(per_type: Dict[str, Dict[str, float]], out: Path, title: str) -> Path:
    plt = _plt()
    types = sorted(per_type)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(types) + 2), 4))
    width = 0.27
    for k, (key, label) in enumerate((("p", "precision"), ("r", "recall"), ("f", "F1"))):
        xs = [i + (k - 1) * width for i in range(len(types))]
        vals = [100 * float(per_type[t].get(key) or 0.0) for t in types]
        bars = ax.bar(xs, vals, width, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    ax.set_xticks(range(len(types)))
    ax.set_xticklabels([f"{t}\n(n={per_type[t]['support']})" if "support" in per_type[t] else t for t in types],
                       rotation=30, ha="right")
    ax.set_ylim(0, 110)
    ax.set_ylabel("%")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8, ncol=3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_tab_recall(report: Dict[str, Any], out: Path, title: str) -> Path:
    plt = _plt()
    per_type = report["tab"]["token_recall_per_type"]
    types = sorted(per_type)
    vals = [100 * (per_type[t]["value"] or 0.0) for t in types]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(types) + 2), 4))
    bars = ax.bar(types, vals, color="tab:green")
    ax.bar_label(bars, labels=[f"{v:.0f}\n({per_type[t]['num']}/{per_type[t]['den']})" for t, v in zip(types, vals)],
                 fontsize=7, padding=1)
    ax.set_ylim(0, 120)
    ax.set_ylabel("token recall %")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_training_curves(rows: List[Dict[str, Any]], out: Path, title: str) -> Path:
    plt = _plt()
    steps = [r["step"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name in rows[0]["losses"]:
        ax1.plot(steps, [r["losses"].get(name) for r in rows], marker=".", label=f"loss {name}")
    ax1.set_xlabel("step")
    ax1.set_ylabel("training loss (since last evaluation)")
    ax1.set_yscale("symlog")
    ax1.legend(fontsize=8)
    for name in rows[0]["scores"]:
        if name == "speed":
            continue
        style = dict(linestyle="--", marker="x") if name.startswith("seqeval") else dict(marker=".")
        ax2.plot(steps, [100 * (r["scores"].get(name) or 0.0) for r in rows], label=name, **style)
    if all(r.get("score") is not None for r in rows):
        ax2.plot(steps, [100 * r["score"] for r in rows], "k:", label="score (weighted)")
    ax2.set_xlabel("step")
    ax2.set_ylabel("dev score %")
    ax2.set_ylim(0, 100)
    ax2.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(
    scores: Optional[Path] = typer.Option(None, "--scores", help="tab_metrics.json or `spacy evaluate --output` JSON"),
    train_log: Optional[Path] = typer.Option(None, "--train-log", help="spacy train log: JSONL (ConsoleLogger.v3 output_file) or console table"),
    out_dir: Path = typer.Option(..., "--out-dir", help="Folder for the PNG files"),
    name: str = typer.Option("", "--name", help="Title prefix (default: out-dir name)"),
):
    """Per-type P/R/F1 bars, TAB token recall per type, and training curves as PNG."""
    name = name or out_dir.name
    written = []
    if scores is not None:
        per_type, desc = load_per_type(scores)
        written.append(plot_per_type(per_type, out_dir / "per_type_prf.png", f"{name}: {desc}, per type"))
        data = json.loads(scores.read_text(encoding="utf8"))
        if "tab" in data:
            written.append(plot_tab_recall(data, out_dir / "tab_token_recall_per_type.png",
                                           f"{name}: TAB token-level recall per entity type"))
    if train_log is not None:
        if train_log.exists():
            written.append(plot_training_curves(load_train_log(train_log), out_dir / "training_curves.png",
                                                f"{name}: spacy train ({train_log.name})"))
        else:
            typer.secho(f"warning: no training log at {train_log}; training curves skipped", fg="yellow", err=True)
    if not written:
        typer.secho("nothing plotted: give --scores and/or --train-log", fg="red", err=True)
        raise typer.Exit(1)
    for p in written:
        print(p)
