"""Scores: seqeval inside spacy evaluate, TAB's privacy measures, the masked-LM weighting, the evaluation and threshold reports, plots."""
