"""`python -m scripts.convert_tab`: TAB-schema JSON -> spaCy DocBin.

The command line of ``legal_anon.corpus.convert_tab`` (options: ``--help``; documentation: that module).
"""
import typer

from legal_anon.corpus.convert_tab import main

if __name__ == "__main__":
    typer.run(main)
