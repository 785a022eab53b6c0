"""``bilstm_crf_ner`` and ``crf_ner``: a TrainablePipe that tags entities with a CRF model.

Two factories, one class (``CRFEntityRecognizer``), two architectures:

* ``bilstm_crf_ner``: Char-CNN + BiLSTM + CRF (``legal_anon.CharCNNBiLSTMCRF.v1``), the
  standalone fast CPU tagger;
* ``crf_ner``: a CRF output layer over a tok2vec (``legal_anon.Tok2VecCRF.v1``), e.g. the
  spacy-transformers listener (``configs/transformer_crf.cfg``); its default tok2vec is
  spaCy's ``HashEmbedCNN`` so the factory also works on its own.

Follows spaCy's tagger/ner conventions: the model maps docs to BIOES emission scores
(``List[Floats2d]``); the pipe owns the CRF over them — ``get_loss`` (the CRF negative
log-likelihood and its gradient), ``predict`` (Viterbi tags, and token marginals for the
recall control) — and the dropout rate (``set_dropout_rate`` in ``update``). Labels come
from ``initialize`` (the entity labels of the training examples, or an explicit ``labels``
list from ``[initialize.components]``) and are kept in ``cfg``; the sizes the model's
PyTorch layer is rebuilt from are written into ``nlp.config`` at ``initialize``, as the
tags' count is in spaCy's own torch tutorial. ``set_annotations`` writes ``doc.ents``.
Empty docs pass through predict and update.
"""

from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate

from legal_anon.corpus.tags import parse_tag
from legal_anon.ml.bioes import bioes_tags
from legal_anon.ml.crf import ConstrainedCRF, CRFOutput, sequence_decode, sequence_loss
from legal_anon.ml.crf_tagger import build_torch_layer, can_build, crf_layer
from legal_anon.ml.distillation import teacher_ids, teacher_loss
from legal_anon.ml.segments import segment_table
from legal_anon.pipeline.crf_spans import candidate_spans, decode_bioes, strip_space_tokens

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "legal_anon.CharCNNBiLSTMCRF.v1"
char_width = 30
char_filters = 50
char_kernel = 3
max_word_length = 24
n_char_rows = 512
case_width = 4
lowercase_vectors = true
hash_rows = 20000
word_width = 50
hidden_width = 200
depth = 1
dropout = 0.5
window = 128
max_batch_tokens = 4096
torch_threads = 1
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]

DEFAULT_CRF_HEAD_CONFIG = """
[model]
@architectures = "legal_anon.Tok2VecCRF.v1"
dropout = 0.1
window = 512
max_batch_tokens = 8192

[model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 96
depth = 4
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true
"""
DEFAULT_CRF_HEAD_MODEL = Config().from_str(DEFAULT_CRF_HEAD_CONFIG)["model"]


# Recall control (both factories): with mask_threshold set, the CRF's token marginals are
# computed and tokens outside doc.ents whose probability of being inside an entity is at
# least mask_threshold go, as runs of consecutive tokens, into doc.spans[candidates_key]
# (which the anonymizer masks too). doc.ents stays the Viterbi path, so typed NER scores
# are unaffected. null = no marginals, no candidates.
RECALL_CONTROL_DEFAULTS = {"mask_threshold": None, "candidates_key": "ent_candidates"}
# The masking decision (both factories): with keep_spans_key set, the training docs' mentions
# in reference.spans[keep_spans_key] that are not entities (TAB's NO_MASK mentions: "the
# Government", "the Court of Appeal", "Turkish") are trained as one more label, keep_label,
# instead of O. The tagger then tells "an entity that stays" from "an entity to mask": KEEP
# spans never enter doc.ents, and the recall control reads the probability of the masked
# labels only. null = NO_MASK mentions are O (the tagger of 0.2.0).
KEEP_DEFAULTS = {"keep_spans_key": None, "keep_label": "KEEP"}


@Language.factory(
    "bilstm_crf_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={"model": DEFAULT_MODEL, "scorer": {"@scorers": "spacy.ner_scorer.v1"}, **RECALL_CONTROL_DEFAULTS, **KEEP_DEFAULTS},
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_bilstm_crf_ner(
    nlp: Language, name: str, model: Model, scorer: Optional[Callable],
    mask_threshold: Optional[float], candidates_key: str, keep_spans_key: Optional[str], keep_label: str,
) -> "CRFEntityRecognizer":
    return CRFEntityRecognizer(nlp.vocab, model, name, scorer=scorer, mask_threshold=mask_threshold,
                               candidates_key=candidates_key, keep_spans_key=keep_spans_key, keep_label=keep_label)


@Language.factory(
    "crf_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={"model": DEFAULT_CRF_HEAD_MODEL, "scorer": {"@scorers": "spacy.ner_scorer.v1"}, **RECALL_CONTROL_DEFAULTS, **KEEP_DEFAULTS},
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_crf_ner(
    nlp: Language, name: str, model: Model, scorer: Optional[Callable],
    mask_threshold: Optional[float], candidates_key: str, keep_spans_key: Optional[str], keep_label: str,
) -> "CRFEntityRecognizer":
    return CRFEntityRecognizer(nlp.vocab, model, name, scorer=scorer, mask_threshold=mask_threshold,
                               candidates_key=candidates_key, keep_spans_key=keep_spans_key, keep_label=keep_label)


class CRFEntityRecognizer(TrainablePipe):
    """Entity recognizer: a model that scores BIOES tags per token, and a CRF over them.

    ``cfg`` keeps the labels; the model's sizes live in its config (``nlp.config``)."""

    def __init__(
        self, vocab: Vocab, model: Model, name: str = "bilstm_crf_ner", *, scorer: Optional[Callable] = None,
        mask_threshold: Optional[float] = None, candidates_key: str = "ent_candidates",
        keep_spans_key: Optional[str] = None, keep_label: str = "KEEP",
    ):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {"labels": []}
        self.candidates_key = candidates_key
        self.mask_threshold = mask_threshold
        self.keep_spans_key = keep_spans_key
        self.keep_label = keep_label

    @property
    def crf(self) -> ConstrainedCRF:
        """The CRF over the model's emission scores (its transitions are model weights)."""
        return crf_layer(self.model)

    # ------------------------------------------------------------------ recall control
    @property
    def mask_threshold(self) -> Optional[float]:
        """Probability of being inside an entity above which a token outside doc.ents
        becomes a masking candidate (None: no marginals computed)."""
        return self._mask_threshold

    @mask_threshold.setter
    def mask_threshold(self, value: Optional[float]) -> None:
        if value is not None and not 0.0 < float(value) <= 1.0:
            raise ValueError(f"{self.name}: mask_threshold must be in (0, 1] or None, got {value!r}")
        if value is not None and not self.candidates_key:
            raise ValueError(f"{self.name}: mask_threshold needs a candidates_key to write the candidates to")
        self._mask_threshold = None if value is None else float(value)

    # ------------------------------------------------------------------ labels
    @property
    def labels(self) -> tuple:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.cfg["labels"])

    @property
    def masked_labels(self) -> Tuple[str, ...]:
        """The labels of doc.ents: every label but the KEEP label."""
        return tuple(label for label in self.labels if label != self.keep_label)

    @property
    def keep_labels(self) -> Tuple[str, ...]:
        return (self.keep_label,) if self.keep_label in self.labels else ()

    @property
    def tags(self) -> List[str]:
        return bioes_tags(self.labels)

    def add_label(self, label: str) -> int:
        if not isinstance(label, str):
            raise ValueError("label must be a string")
        if label in self.cfg["labels"]:
            return 0
        if self.model.attrs.get("tags") is not None:
            raise ValueError(f"{self.name}: cannot add label {label!r} to an initialized model")
        self.cfg["labels"] = sorted(self.cfg["labels"] + [label])
        self.vocab.strings.add(label)
        return 1

    # ------------------------------------------------------------------ init
    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        validate_get_examples(get_examples, f"{self.name}.initialize")
        if labels is not None:
            for label in labels:
                self.add_label(label)
        else:
            found = set()
            for eg in get_examples():
                found.update(ent.label_ for ent in eg.reference.ents)
            for label in sorted(found):
                self.add_label(label)
        if self.keep_spans_key:
            if self.keep_label in {ent.label_ for eg in islice(get_examples(), 100) for ent in eg.reference.ents}:
                raise ValueError(f"{self.name}: keep_label {self.keep_label!r} is also an entity label of the "
                                 "training data; choose another keep_label")
            self.add_label(self.keep_label)
        doc_sample = [eg.predicted for eg in islice(get_examples(), 10)]
        if nlp is not None:  # as spaCy's parser does: a listener needs the upstream output
            for _, component in nlp.pipeline:
                if component is self:
                    break
                if hasattr(component, "pipe"):
                    doc_sample = list(component.pipe(doc_sample, batch_size=8))
                else:
                    doc_sample = [component(doc) for doc in doc_sample]
        self.model.initialize(X=doc_sample, Y=self.tags)
        if nlp is not None:  # so that a saved pipeline rebuilds the PyTorch layer at full size
            nlp.config["components"][self.name]["model"].update(self.model.attrs["sizes"])

    # ------------------------------------------------------------------ predict
    def predict(self, docs: Iterable[Doc]) -> CRFOutput:
        """BIOES tag ids per doc (Viterbi), and the token marginals when mask_threshold is set."""
        docs = list(docs)
        marginals = self.mask_threshold is not None
        if not any(len(d) for d in docs):
            tags = [np.zeros((len(d),), dtype=np.int64) for d in docs]
            probs = [np.zeros((len(d), len(self.tags)), dtype=np.float32) for d in docs]
            return CRFOutput(tags, probs if marginals else None)
        n_tags = len(self.tags)  # a distilled model's teacher columns follow the tags' scores
        scores = [self.model.ops.to_numpy(s)[:, :n_tags] for s in self.model.predict(docs)]
        return sequence_decode(self.crf, docs, scores, self.model.attrs["window"],
                               self.model.attrs["max_batch_tokens"], marginals=marginals)

    def set_annotations(self, docs: Iterable[Doc], scores: CRFOutput) -> None:
        """doc.ents from the Viterbi path; masking candidates from the marginals."""
        if not isinstance(scores, CRFOutput):  # a bare list of tag-id arrays
            scores = CRFOutput(list(scores))
        docs = list(docs)
        keep = set(self.keep_labels)
        for doc, ids in zip(docs, scores.tags):
            spans = decode_bioes(doc, np.asarray(ids), self.labels)
            ents = [s for s in spans if s.label_ not in keep] if keep else spans
            doc.set_ents(strip_space_tokens(doc, ents), default="outside")
        if self.mask_threshold is not None:
            if scores.probs is None:
                raise ValueError(f"{self.name}: mask_threshold is set but the predictions carry no marginals")
            for doc, probs in zip(docs, scores.probs):
                spans, span_scores = candidate_spans(doc, probs, self.labels, self.mask_threshold, self.keep_labels)
                doc.spans[self.candidates_key] = spans
                doc.spans[self.candidates_key].attrs["scores"] = span_scores

    # ------------------------------------------------------------------ training
    def _gold(self, examples: Sequence[Example]) -> List[np.ndarray]:
        index = {t: i for i, t in enumerate(self.tags)}
        gold = []
        for eg in examples:
            biluo = eg.get_aligned_ner()
            ids = np.zeros((len(eg.predicted),), dtype=np.int64)
            for i, t in enumerate(biluo):
                if t and t not in ("O", "-"):  # "-": missing annotation, trained as O
                    prefix, label = parse_tag(t)  # spaCy's BILUO L/U are BIOES E/S
                    ids[i] = index.get(f"{prefix}-{label}", 0)
            if self.keep_labels:
                self._add_keep_tags(eg, ids, index)
            gold.append(ids)
        return gold

    def _add_keep_tags(self, eg: Example, ids: np.ndarray, index: Dict[str, int]) -> None:
        """The reference's mentions in keep_spans_key that lie wholly outside its entities
        (NO_MASK mentions) become KEEP tags; a mention overlapping an entity stays O."""
        group = eg.reference.spans.get(self.keep_spans_key)
        if not group:
            return
        for span in eg.get_aligned_spans_y2x(list(group), allow_overlap=True):
            if span.end <= span.start or ids[span.start:span.end].any():
                continue
            if span.end - span.start == 1:
                ids[span.start] = index[f"S-{self.keep_label}"]
            else:
                ids[span.start] = index[f"B-{self.keep_label}"]
                ids[span.start + 1:span.end - 1] = index[f"I-{self.keep_label}"]
                ids[span.end - 1] = index[f"E-{self.keep_label}"]

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch: emission scores, the CRF loss and its gradient (get_loss),
        backpropagated through the model; ``drop`` is the dropout rate of this update."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{self.name}.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], scores: List[Any]) -> Tuple[float, List[Any]]:
        """The CRF negative log-likelihood of the gold entities (per segment, averaged over
        the batch's segments) and its gradient with respect to the emission scores."""
        examples = list(examples)
        validate_examples(examples, f"{self.name}.get_loss")
        ops = self.model.ops
        docs = [eg.predicted for eg in examples]
        scores = [ops.to_numpy(s) for s in scores]
        n_tags, window = len(self.tags), self.model.attrs["window"]
        loss, d_scores = sequence_loss(
            self.crf, docs, [s[:, :n_tags] for s in scores], self._gold(examples),
            window, self.model.attrs["max_batch_tokens"],
        )
        teacher = self.model.attrs.get("teacher")
        if teacher:  # distillation: the teacher head's cross-entropy, per segment as the CRF's
            gold = [teacher_ids(eg, teacher["spans_key"], teacher["labels"]) for eg in examples]
            t_loss, d_teacher = teacher_loss([s[:, n_tags:] for s in scores], gold, teacher["weight"],
                                             float(max(1, len(segment_table(docs, window)))))
            loss += t_loss
            d_scores = [np.concatenate([d, t], axis=1) for d, t in zip(d_scores, d_teacher)]
        if not np.isfinite(loss):
            raise ValueError(f"{self.name}: the CRF loss is not finite ({loss})")
        return loss, [ops.asarray2f(d) for d in d_scores]

    # ------------------------------------------------------------------ serialization
    # to_bytes/to_disk are TrainablePipe's (cfg + model); loading first builds the PyTorch
    # layer for the saved labels at the sizes in the model's config.
    _LEGACY_SIZE_KEYS = ("n_word_rows", "word_width", "nI")

    def _build_for_loading(self) -> None:
        legacy = {k: self.cfg.pop(k) for k in self._LEGACY_SIZE_KEYS if k in self.cfg}
        sizes = self.model.attrs["sizes"]
        for key, value in legacy.items():  # pipelines saved before the sizes moved into the config
            if key in sizes and value is not None and sizes[key] is None:
                sizes[key] = value
        if not self.cfg["labels"]:
            return  # an uninitialized pipe was saved: nothing to build
        if not can_build(self.model):
            missing = [k for k, v in sizes.items() if v is None]
            raise ValueError(
                f"{self.name}: the model's sizes {missing} are not in its config. Load a trained pipeline "
                "with spacy.load, or build it from the trained pipeline's config (nlp.config, config.cfg), "
                "where initialize wrote them")
        build_torch_layer(self.model, self.tags)

    def _load_weights(self, data: bytes, source: str) -> None:
        self._build_for_loading()
        try:
            self.model.from_bytes(data)
        except Exception as e:  # msgpack's "Unpack failed: incomplete input", a size mismatch ...
            raise ValueError(f"{self.name}: cannot load the weights in {source} ({len(data)} bytes): the file is "
                             f"damaged or truncated, or was saved by a different model ({type(e).__name__}: {e})"
                             ) from e

    def from_bytes(self, bytes_data, *, exclude=tuple()):
        deserialize = {
            "cfg": lambda b: self.cfg.update(srsly.json_loads(b)),
            "vocab": lambda b: self.vocab.from_bytes(b, exclude=exclude),
            "model": lambda b: self._load_weights(b, "the model bytes"),
        }
        util.from_bytes(bytes_data, deserialize, exclude)
        return self

    def from_disk(self, path, *, exclude=tuple()):
        deserialize = {
            "cfg": lambda p: self.cfg.update(srsly.read_json(p)),
            "vocab": lambda p: self.vocab.from_disk(p, exclude=exclude),
            "model": lambda p: self._load_weights(Path(p).read_bytes(), str(p)),
        }
        util.from_disk(path, deserialize, exclude)
        return self


def find_crf_tagger(nlp: Language) -> Optional[CRFEntityRecognizer]:
    """The pipeline's CRF entity recognizer (bilstm_crf_ner or crf_ner), if any."""
    for _, proc in nlp.pipeline:
        if isinstance(proc, CRFEntityRecognizer):
            return proc
    return None
