"""legal_anon: spaCy components for finding and masking identifying information in legal documents.

Installed from the project's ``components/`` folder (see setup.py); spaCy finds the
registered factories, architectures and scorers through entry points.
"""
__version__ = "0.1.0"
