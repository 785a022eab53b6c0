"""`python -m scripts.evaluate_tab`: a pipeline (or a TAB-format output) scored with TAB's measures and seqeval.

The command line of ``legal_anon.eval.evaluate_tab`` (options: ``--help``; documentation: that module).
"""
import typer

from legal_anon.eval.evaluate_tab import main

if __name__ == "__main__":
    typer.run(main)
