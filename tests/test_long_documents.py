"""Long documents run in bounded pieces (issue 19): the pipeline is never handed more than
``BATCH_CHARS`` characters at once, whatever the document's length, and documents below
``PIECE_CHARS`` give the same output as before, in any batching."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from spacy.training import Example
from spacy.util import fix_random_seed, load_config

from legal_anon.pipeline.split_long import BATCH_CHARS, PIECE_CHARS, char_batches, pipe_long, piece_length

ROOT = Path(__file__).resolve().parent.parent
TAB_DEV = ROOT / "assets" / "tab_subset" / "echr_dev.json"
SENTENCE = "On 3 May 2001 Mr Galip Yalman of Bartin lodged application no. 12345/01 with the Court. "


class BatchSpy:
    """Records how many characters each batch handed to the pipeline holds."""

    def __init__(self):
        self.batches = []

    def __call__(self, doc):
        self.batches.append(len(doc.text))
        return doc

    def pipe(self, docs, batch_size=128):
        for batch in spacy.util.minibatch(docs, size=batch_size):
            self.batches.append(sum(len(d.text) for d in batch))
            yield from batch


def spy_nlp():
    nlp = spacy.blank("en")
    spy = BatchSpy()
    Language.component("batch_spy_" + str(id(spy)), func=spy)
    nlp.add_pipe("batch_spy_" + str(id(spy)))
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": "Galip Yalman"}, {"label": "CODE", "pattern": "12345/01"}])
    nlp.add_pipe("anonymizer")
    spy.batches.clear()  # the ruler ran its phrase patterns through the spy
    return nlp, spy


def ents(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def test_a_long_single_line_document_reaches_the_pipeline_in_bounded_pieces():
    nlp, spy = spy_nlp()
    text = SENTENCE * (250_000 // len(SENTENCE))  # one line, no paragraph break
    assert len(text) > 2 * PIECE_CHARS and "\n" not in text
    (doc,) = list(pipe_long(nlp, [text]))
    assert max(spy.batches) <= BATCH_CHARS
    assert sum(spy.batches) == len(text) and len(spy.batches) >= 3
    assert doc.text == text
    whole = nlp.make_doc(text)
    for name, proc in nlp.pipeline:
        whole = proc(whole)
    assert ents(doc) == ents(whole)  # the cuts fall at sentence ends: nothing lost
    assert doc._.anonymized == whole._.anonymized and "Yalman" not in doc._.anonymized


def test_many_normal_documents_are_batched_by_characters_too():
    nlp, spy = spy_nlp()
    texts = [SENTENCE * 250] * 16  # 16 documents of 22,000 characters, under PIECE_CHARS
    docs = list(pipe_long(nlp, texts, batch_size=16))
    assert [d.text for d in docs] == texts
    assert max(spy.batches) <= BATCH_CHARS and sum(spy.batches) == sum(map(len, texts))
    assert [len(b) for b in char_batches([("ab", 0), ("c", 1), ("defg", 2), ("h", 3)], 2, 4)] == [2, 1, 1]
    assert piece_length(nlp) == min(nlp.max_length, PIECE_CHARS) and piece_length(nlp, 500) == 500


@pytest.fixture(scope="module")
def stacked_nlp():
    """The packaged pipeline's architecture (configs/bilstm_crf_stacked.cfg: en_core_web_sm's
    NER stacked under the BiLSTM-CRF, recall control at 0.02, the anonymizer), trained for a
    few steps on TAB training judgments."""
    from legal_anon.corpus.convert_tab import convert_tab_file

    fix_random_seed(0)
    cfg = load_config(ROOT / "configs" / "bilstm_crf_stacked.cfg", interpolate=False)
    cfg["components"]["bilstm_crf_ner"]["model"]["hidden_width"] = 32
    nlp = spacy.util.load_model_from_config(cfg, auto_fill=True, validate=True)
    docs, _ = convert_tab_file(ROOT / "assets" / "tab_subset" / "echr_train.json", None, policy="first")
    examples = [Example(nlp.make_doc(d.text), d) for d in docs[:8]]
    nlp.initialize(lambda: examples)
    frozen = ["ontonotes_ner", "ontonotes_spans"]
    for eg in examples:
        for name in frozen:
            nlp.get_pipe(name)(eg.predicted)
    optimizer = nlp.create_optimizer()
    for _ in range(3):
        for i in range(0, len(examples), 4):
            nlp.update(examples[i:i + 4], sgd=optimizer, exclude=frozen)
    nlp.add_pipe("anonymizer", config={"operators": {"PERSON": "pseudonym"}})
    return nlp


def outputs(docs):
    return [(ents(d), [(s.start_char, s.end_char, s.label_) for s in d.spans.get("ent_candidates", [])],
             d._.anonymized) for d in docs]


@pytest.mark.slow
def test_tab_dev_judgments_give_the_same_output_in_any_batching(stacked_nlp):
    texts = [d["text"] for d in json.loads(TAB_DEV.read_text(encoding="utf8"))]
    assert max(map(len, texts)) < PIECE_CHARS  # normal documents: never cut
    before = outputs(stacked_nlp.pipe(texts, batch_size=16))  # what pipe_long handed over before
    assert sum(len(e) + len(c) for e, c, _ in before) > 100  # the model does mask things
    assert outputs(pipe_long(stacked_nlp, texts)) == before
    assert outputs(pipe_long(stacked_nlp, texts, batch_chars=5_000)) == before  # one judgment per batch


@pytest.mark.slow
def test_the_pipeline_runs_inside_memory_zones_and_forgets_the_new_words(stacked_nlp):
    """A long run frees the strings each batch adds (``nlp.memory_zone()``): the featurizer's
    cache is keyed by hash, so a word seen in an earlier zone gets the same features."""
    texts = [f"The applicant, Mr Zorbuk{i} Qatrel{i}, lodged application no. {70000 + i}/19 in Ydrasville{i}."
             for i in range(6)]
    strings = len(stacked_nlp.vocab.strings)
    results = []
    for _ in range(2):
        with stacked_nlp.memory_zone():
            results.append([(d._.anonymized, ents(d)) for d in pipe_long(stacked_nlp, texts)])
        assert len(stacked_nlp.vocab.strings) == strings
    assert results[0] == results[1]
    assert results[0] == [(d._.anonymized, ents(d)) for d in pipe_long(stacked_nlp, texts)]


def test_the_local_engine_forgets_an_archives_new_words_between_memory_zones(tmp_path, monkeypatch):
    """3,000 documents, each with a new case number and name: the vocab's strings stay
    where they were (one memory zone per 1,000 documents), and every document is written."""
    from legal_anon.engines.local import DocumentDone, LocalEngine
    from legal_anon.io.sources import expand_inputs

    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "CODE", "pattern": [{"SHAPE": "dddd/dd"}]}])
    nlp.add_pipe("anonymizer")
    lines = [json.dumps({"id": f"d{i}", "text": f"Application no. {1000 + i}/{i % 90 + 10} by Zyx{i}qv."})
             for i in range(3000)]
    (tmp_path / "archive.jsonl").write_text("\n".join(lines) + "\n", encoding="utf8")
    nlp("Application no. 1000/10 by Zyx0qv.")  # the words every document shares
    before = len(nlp.vocab.strings)
    written = []

    class Writer:
        def write(self, record):
            written.append(record.anonymized)

    engine = LocalEngine(nlp, batch_size=64)
    results = list(engine.run(expand_inputs([str(tmp_path / "archive.jsonl")]), Writer()))
    assert sum(isinstance(r, DocumentDone) for r in results) == 3000 and len(written) == 3000
    assert written[5] == "Application no. [CODE] by Zyx5qv."
    assert len(nlp.vocab.strings) - before < 50  # not the 6,000 new strings of the archive
