"""`python -m scripts.plot_scores`: PNG plots of scores and training curves.

The command line of ``legal_anon.eval.plots`` (options: ``--help``; documentation: that module).
"""
import typer

from legal_anon.eval.plots import main

if __name__ == "__main__":
    typer.run(main)
