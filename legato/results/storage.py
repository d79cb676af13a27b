"""Where result records live: a local folder, or anything fsspec can reach.

A storage has two operations, :meth:`ResultStorage.read` (the bytes at a key,
or None) and :meth:`ResultStorage.write` (all the bytes at a key, atomically:
a reader sees the old record, the new one, or none, never a part). Keys are
relative, ``/``-separated paths; ``..`` and absolute paths are refused.

* :class:`LocalStorage` writes a temporary file next to the target, fsyncs it,
  renames it into place and fsyncs the folder. A process killed mid-write
  leaves at most a ``.*.tmp`` file, which is never read as a record.
* :class:`FsspecStorage` (``memory://``, ``s3://``, ...) uses one ``put`` on
  object stores, where a put is atomic, and a temporary key then a move
  elsewhere. The record format's length and checksum catch what a storage
  does not guarantee.

:func:`resolve_storage` turns the ``result_storage`` option (None, a path, an
fsspec URL, or a storage) into a storage, one instance per location; with no
option, results go to :func:`default_root`, ``$LEGATO_HOME/results``.
"""

from __future__ import annotations

import copy
import os
import secrets
import tempfile
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from legato import config

# fsspec protocols whose single put is atomic: no temporary key needed.
_ATOMIC_PUT = frozenset({"memory", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})


class ResultStorage(ABC):
    """Bytes by key. Implementations must be safe to share between threads."""

    #: locks keys for SERIALIZABLE transactions (:mod:`legato.locking`); set with :meth:`with_options`
    lock_manager: Any = None

    def with_options(self, *, lock_manager: Any = None) -> ResultStorage:
        """A copy of this storage (same location) with a lock manager, as Prefect's ``ResultStore(lock_manager=...)``."""
        clone = copy.copy(self)
        clone.lock_manager = lock_manager
        return clone

    @abstractmethod
    def read(self, key: str) -> bytes | None:
        """The bytes stored at ``key``, or None if there are none."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key``, replacing what was there, atomically."""

    def location(self, key: str) -> str:
        """Where ``key`` is, for messages."""
        return key


class LocalStorage(ResultStorage):
    """Records as files under a folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()

    def path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def read(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            _remove(temporary)
            raise
        _fsync_folder(target.parent)

    def location(self, key: str) -> str:
        return str(self.path(key))

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"


class FsspecStorage(ResultStorage):
    """Records under an fsspec URL (``memory://results``, ``s3://bucket/prefix``)."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        from fsspec.core import url_to_fs

        self.url = url
        self.fs, root = url_to_fs(url, **storage_options)
        self.root = root.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, (tuple, list)) else (self.fs.protocol,)
        self.atomic_put = any(protocol in _ATOMIC_PUT for protocol in protocols)

    def path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def read(self, key: str) -> bytes | None:
        try:
            return self.fs.cat_file(self.path(key))  # type: ignore[no-any-return]
        except (FileNotFoundError, IsADirectoryError):
            return None

    def write(self, key: str, data: bytes) -> None:
        target = self.path(key)
        if self.atomic_put:
            self.fs.pipe_file(target, data)
            return
        parent = target.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        temporary = f"{parent}/.{target.rsplit('/', 1)[1]}.{secrets.token_hex(6)}.tmp"
        try:
            self.fs.pipe_file(temporary, data)
            self.fs.mv(temporary, target)
        except BaseException:
            try:
                self.fs.rm_file(temporary)
            except Exception:
                pass
            raise

    def location(self, key: str) -> str:
        return self.fs.unstrip_protocol(self.path(key))  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"FsspecStorage({self.url!r})"


def check_key(key: str) -> str:
    """``key`` if it is a safe relative path; ``ValueError`` otherwise."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"a result storage key must be a non-empty string, got {key!r}")
    parts = key.split("/")
    if key.startswith("/") or "\\" in key or "\0" in key or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"result storage key {key!r} must be a relative path without '.', '..' or empty parts")
    return key


_storages: dict[str, ResultStorage] = {}
_storages_lock = threading.Lock()


def resolve_storage(spec: str | os.PathLike[str] | ResultStorage) -> ResultStorage:
    """The storage for a ``result_storage`` option: a path, an fsspec URL or a storage."""
    if isinstance(spec, ResultStorage):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"result_storage must be a path, an fsspec URL or a ResultStorage, got {spec!r}")
    text = os.fspath(spec)
    with _storages_lock:
        found = _storages.get(text)
        if found is None:
            found = _storages[text] = _make_storage(text)
    return found


def legato_home() -> Path:
    """``$LEGATO_HOME`` (default ``~/.legato``), created if missing."""
    return config.legato_home()


def default_root() -> Path:
    """Where results go when no ``result_storage`` is set: ``$LEGATO_HOME/results``."""
    return legato_home() / "results"


def _make_storage(text: str) -> ResultStorage:
    if "://" not in text:
        return LocalStorage(text)
    if text.startswith("file://"):
        return LocalStorage(text[len("file://"):])
    return FsspecStorage(text)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    if os.name != "posix":
        return
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


__all__ = ["FsspecStorage", "LocalStorage", "ResultStorage", "check_key", "default_root", "legato_home",
           "resolve_storage"]
