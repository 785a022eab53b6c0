"""One atomic writer for the converters and the command line's outputs: the old file or the
new one, never a partial file or a stray temp file, the usual permissions, data on disk."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from legal_anon.io import atomic
from legal_anon.io.atomic import write_atomic


def no_temp_files(folder: Path):
    return [p for p in folder.rglob("*") if p.name.startswith(".tmp-")] == []


def test_the_file_is_synced_renamed_and_gets_the_usual_permissions(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.txt", "héllo")
        write_atomic(tmp_path / "b.bin", b"\x00\x01")
        write_atomic(tmp_path / "private.txt", "x", private=True)
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text(encoding="utf8") == "héllo" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
    assert len(synced) >= 3
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch, failure):
    target = tmp_path / "out.html"
    write_atomic(target, "old")

    def fail(fd):
        raise failure

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(type(failure)):
        write_atomic(target, "new " * 10000)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.html"]


def test_the_converters_and_the_outputs_share_the_writer():
    from legal_anon.corpus import report
    from legal_anon.io import sinks

    assert report.write_atomic is atomic.write_atomic and sinks.write_atomic is atomic.write_atomic


def test_the_parquet_dataset_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from legal_anon.io import sinks

    rows = [{"doc_id": f"d{i}", "source": "s", "anonymized": "PERSON_1 left.", "entities": [], "replacements": []}
            for i in range(5)]
    folder = tmp_path / "anonymized.parquet"
    sinks.write_parquet(rows, folder, rows_per_file=2)
    assert pq.read_table(folder).num_rows == 5 and len(list(folder.glob("part-*.parquet"))) == 3
    written = []
    real = atomic.write_atomic

    def fail_second(path, data, **kwargs):
        written.append(path)
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data, **kwargs)

    monkeypatch.setattr(sinks, "write_atomic", fail_second)
    with pytest.raises(OSError):
        sinks.write_parquet(rows[:1] + [dict(rows[0], doc_id="new")] * 3, folder, rows_per_file=2)
    assert pq.read_table(folder).column("doc_id").to_pylist() == [f"d{i}" for i in range(5)]  # the old one, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anonymized.parquet"]  # no temp folder left
