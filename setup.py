"""Installs the project's custom spaCy code as the package ``legal_anon``.

The source lives in ``components/legal_anon/`` (the import name leads to the folder), one
sub-package per stage of the data flow (corpus, ml, pipeline, eval, io, engines); it is
registered through spaCy's entry points, so
that ``spacy train``, ``spacy evaluate`` and an installed ``en_legal_anon`` pipeline find
the factories, architectures and scorers without ``--code``.
"""
from setuptools import find_packages, setup

setup(
    name="legal-anon",
    version="0.3.2",
    description="spaCy components for finding and masking identifying information in legal documents",
    python_requires=">=3.10",
    package_dir={"": "components"},
    packages=find_packages("components"),
    package_data={"legal_anon.review": ["static/*.js", "static/*.css"]},
    install_requires=[
        "spacy>=3.8,<3.9",
        "torch",
        "pytorch-crf",
        "seqeval",
        "numpy",
    ],
    extras_require={
        "vectors": ["gensim", "pyarrow"],
        "transformers": ["spacy-transformers>=1.4,<1.5"],
        "ray": ["ray[data]"],
        "review": ["fastapi", "uvicorn"],
    },
    entry_points={
        "spacy_factories": [
            "bilstm_crf_ner = legal_anon.pipeline.crf_ner:make_bilstm_crf_ner",
            "crf_ner = legal_anon.pipeline.crf_ner:make_crf_ner",
            "anonymizer = legal_anon.pipeline.anonymizer:make_anonymizer",
            "ents_to_spans = legal_anon.pipeline.general_ner:make_ents_to_spans",
            "ner_tensor = legal_anon.pipeline.general_ner:make_ner_tensor",
        ],
        "spacy_architectures": [
            "legal_anon.CharCNNBiLSTMCRF.v1 = legal_anon.ml.bilstm_crf:build_char_cnn_bilstm_crf",
            "legal_anon.CharCNNBiLSTMCRF.v2 = legal_anon.ml.bilstm_crf:build_char_cnn_bilstm_crf_v2",
            "legal_anon.CharCNNBiLSTMCRF.v3 = legal_anon.ml.bilstm_crf:build_char_cnn_bilstm_crf_v3",
            "legal_anon.Tok2VecCRF.v1 = legal_anon.ml.crf_head:build_tok2vec_crf",
            "legal_anon.Tok2VecCRF.v2 = legal_anon.ml.crf_head:build_tok2vec_crf_v2",
            "legal_anon.TransformerModel.v1 = legal_anon.ml.transformer_models:transformer_model_v1",
        ],
        "spacy_scorers": [
            "legal_anon.seqeval_ner_scorer.v1 = legal_anon.eval.seqeval_scorer:make_seqeval_ner_scorer",
        ],
        "spacy_misc": [
            "legal_anon.encoder_name.v1 = legal_anon.ml.transformer_models:encoder_name_v1",
            "legal_anon.pipeline_lookups.v1 = legal_anon.pipeline.general_ner:pipeline_lookups",
        ],
        "console_scripts": [
            "legal-anon = legal_anon.cli:main",
        ],
    },
)
