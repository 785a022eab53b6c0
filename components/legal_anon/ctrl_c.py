"""Ctrl-C in the command line: the first one stops a run, a second one ends the process.

The first Ctrl-C stops a run: a KeyboardInterrupt, caught, and the command says what it wrote
and exits 130. From that moment SIGINT has its default action, so a second Ctrl-C ends the
process at once, whatever the first one's stop is doing (a second KeyboardInterrupt would land
in a temp file's cleanup, the report or an exit handler, with a traceback). Where SIGINT is
ignored (a shell's background job) or a caller installed its own handler, nothing changes.
"""
from __future__ import annotations

import signal
import threading


def stop_on_first_ctrl_c(signum, frame) -> None:
    """SIGINT's handler while ``anonymize`` runs."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    raise KeyboardInterrupt


def handle_ctrl_c() -> None:
    """Install ``stop_on_first_ctrl_c`` where Python's own handler is (not over a caller's, not where SIGINT is ignored)."""
    if on_main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, stop_on_first_ctrl_c)


def abort_on_next_ctrl_c() -> None:
    """In the command's KeyboardInterrupt handlers, whatever raised it."""
    if on_main_thread() and signal.getsignal(signal.SIGINT) in (signal.default_int_handler, stop_on_first_ctrl_c):
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # signal.signal works there only
