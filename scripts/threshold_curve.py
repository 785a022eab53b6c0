"""`python -m scripts.threshold_curve`: token recall against precision over the recall control's threshold.

The command line of ``legal_anon.eval.threshold_curve`` (options: ``--help``; documentation: that module).
"""
import typer

from legal_anon.eval.threshold_curve import main

if __name__ == "__main__":
    typer.run(main)
