"""The one atomic file writer of the project (converters, command-line outputs, reports).

A reader sees the old file or the new one, never a partial one: the data goes to a temporary
file beside the target (``.tmp-*``), is flushed to disk (``fsync``: a record that marks a
document done must never point at text still in the page cache when the power goes), and is
renamed over the target. On any error or Ctrl-C the temporary file is removed before the
exception goes on. Files get the mode an ordinary ``open()`` would give (``0666`` less the
umask; ``mkstemp`` alone gives ``0600``); ``private=True`` keeps ``0600`` (review material).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional, Union

TEMP_PREFIX = ".tmp-"


def current_umask() -> int:
    """The process's umask (read by setting it and back: there is no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Union[str, Path], data: Union[str, bytes], *, private: bool = False,
                 mode: Optional[int] = None) -> None:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` through a synced temporary file and a rename."""
    path = Path(path)
    payload = data.encode("utf8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=path.suffix)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.fchmod(fd, 0o600 if private else (mode if mode is not None else 0o666 & ~current_umask()))
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def sync_folder(folder: Union[str, Path]) -> None:
    """fsync a folder, so that the renames in it survive a power cut (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
