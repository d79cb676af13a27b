"""Storages write whole records or nothing; the signing key is private and shared by all writers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from legato.results import signing
from legato.results.storage import FsspecStorage, LocalStorage, check_key, resolve_storage


STORAGES = [lambda root: LocalStorage(root), lambda root: FsspecStorage(f"memory://{uuid.uuid4().hex}")]


@pytest.mark.parametrize("make", STORAGES, ids=["local", "memory"])
def test_storages_read_what_they_wrote(make, tmp_path: Path) -> None:  # noqa: ANN001
    storage = make(tmp_path / "store")
    assert storage.read("a/b/c") is None
    storage.write("a/b/c", b"one")
    storage.write("a/b/c", b"two")
    assert storage.read("a/b/c") == b"two"


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a", "a\\b", "a/."])
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)


def test_a_failed_local_write_leaves_neither_record_nor_temporary_file(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalStorage(tmp_path)
    storage.write("rec", b"old")

    def crash(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        storage.write("rec", b"new")
    assert storage.read("rec") == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["rec"]


def test_a_process_killed_mid_write_leaves_no_record(tmp_path: Path) -> None:
    # os.replace is the moment the record appears: die just before it, for real.
    script = textwrap.dedent(f"""
        import os, signal
        from legato.results.storage import LocalStorage
        os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
        LocalStorage({str(tmp_path)!r}).write("dir/rec", b"x" * 100_000)
    """)
    process = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert process.returncode == -9
    assert LocalStorage(tmp_path).read("dir/rec") is None
    assert [p.name.endswith(".tmp") for p in (tmp_path / "dir").iterdir()] == [True]


def test_resolve_storage_understands_paths_urls_and_instances(tmp_path: Path) -> None:
    assert isinstance(resolve_storage(tmp_path), LocalStorage)
    assert isinstance(resolve_storage(f"file://{tmp_path}"), LocalStorage)
    memory = resolve_storage("memory://legato-resolve")
    assert isinstance(memory, FsspecStorage) and memory is resolve_storage("memory://legato-resolve")
    assert resolve_storage(memory) is memory
    with pytest.raises(TypeError):
        resolve_storage(3)  # type: ignore[arg-type]


def test_the_signing_key_file_is_private_and_stable(_isolated_home: Path) -> None:
    key = signing.signing_key()
    path = _isolated_home / "results.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 64 and path.read_bytes().strip() == key
    signing._cached.clear()
    assert signing.signing_key() == key


def test_concurrent_first_uses_agree_on_one_key(_isolated_home: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: signing._read_or_create(_isolated_home / "results.key"), range(16)))
    assert len(keys) == 1
    assert [p.name for p in _isolated_home.iterdir()] == ["results.key"]


def test_the_environment_key_wins(monkeypatch: pytest.MonkeyPatch, _isolated_home: Path) -> None:
    monkeypatch.setenv("LEGATO_RESULTS_KEY", "shared secret")
    assert signing.signing_key() == b"shared secret"
    assert not (_isolated_home / "results.key").exists()
