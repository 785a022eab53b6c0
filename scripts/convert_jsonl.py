"""`python -m scripts.convert_jsonl`: token/tag JSONL -> spaCy DocBin.

The command line of ``legal_anon.corpus.convert_jsonl`` (options: ``--help``; documentation: that module).
"""
import typer

from legal_anon.corpus.convert_jsonl import main

if __name__ == "__main__":
    typer.run(main)
