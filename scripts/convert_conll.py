"""`python -m scripts.convert_conll`: CoNLL (IOB1/IOB2/BIOES) -> spaCy DocBin.

The command line of ``legal_anon.corpus.convert_conll`` (options: ``--help``; documentation: that module).
"""
import typer

from legal_anon.corpus.convert_conll import main

if __name__ == "__main__":
    typer.run(main)
