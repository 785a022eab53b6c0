"""Installs the project's custom spaCy code as the package ``legal_anon``.

The source lives in ``components/`` (the project layout); it is installed under the
distinctive import name ``legal_anon`` and registered through spaCy's entry points, so
that ``spacy train``, ``spacy evaluate`` and an installed ``en_legal_anon`` pipeline find
the factories, architectures and scorers without ``--code``.
"""
from setuptools import setup

setup(
    name="legal-anon",
    version="0.1.0",
    description="spaCy components for finding and masking identifying information in legal documents",
    python_requires=">=3.10",
    package_dir={"legal_anon": "components"},
    packages=["legal_anon"],
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
    },
    entry_points={
        "spacy_factories": [
            "anonymizer = legal_anon.anonymizer:make_anonymizer",
        ],
        "spacy_architectures": [],
        "spacy_scorers": [],
        "spacy_misc": [],
        "console_scripts": [
            "legal-anon = legal_anon.cli:main",
        ],
    },
)
