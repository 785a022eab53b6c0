"""``python -m legal_anon`` - the same command line as the ``legal-anon`` console script."""
import sys

from legal_anon.cli import main

if __name__ == "__main__":
    sys.exit(main())
