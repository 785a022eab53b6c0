"""Start a command the way a terminal starts its foreground job, for the tests that Ctrl-C it.

A shell starts a background job (``.ci/run > log &``, ``nohup ... &`` in a script) with SIGINT
ignored; the ignore is inherited through fork and exec, and a Python started that way installs
no KeyboardInterrupt handler, by design (a Ctrl-C at the terminal is not meant for background
jobs). A test that sends SIGINT to a command it started therefore gives the command SIGINT's
default disposition, or under such a harness the command never hears the signal and runs on
(the CI run of 2026-12-06 02:41: the local command ran 120 s past SIGINT, the Ray one finished
all 3,000 documents with exit 0)."""
from __future__ import annotations

import signal


def sigint_at_default() -> None:
    """``preexec_fn`` for ``subprocess.Popen``: the child starts with SIGINT at its default,
    so Python installs its KeyboardInterrupt handler whatever the test runner ignores."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
