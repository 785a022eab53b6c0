"""`python -m scripts.make_sample_corpus`: the seeded synthetic sample corpus (TAB schema).

The command line of ``legal_anon.corpus.sample`` (options: ``--help``; documentation: that module).
"""
import typer

from legal_anon.corpus.sample import main

if __name__ == "__main__":
    typer.run(main)
