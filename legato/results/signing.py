"""The secret that signs result records written with a pickle-based serializer.

Loading a pickle runs code named in it, so a record is only unpickled if its
HMAC-SHA256 signature verifies with this process's key: someone who can write
to a shared results folder, but cannot read the key, cannot make a flow run
their code. The key is, in order:

* ``LEGATO_RESULTS_KEY`` (any string; share it between machines that share a
  results store),
* else the file ``$LEGATO_HOME/results.key``, created on first use with
  permissions 0600 (64 random hex digits). Concurrent first uses agree on one
  key: the file is made by linking a complete temporary file into place, which
  fails, rather than overwrites, if another process got there first.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import threading
import time
from pathlib import Path

from legato import config
from legato.results.storage import legato_home

KEY_ENV = "LEGATO_RESULTS_KEY"
KEY_FILE = "results.key"

logger = logging.getLogger("legato.results")

_lock = threading.Lock()
_cached: dict[str, bytes] = {}  # key file path -> key


def signing_key() -> bytes:
    """This process's signing key (see the module docstring for where it comes from)."""
    from_env = config.results_key()  # KEY_ENV
    if from_env:
        return from_env.encode("utf-8")
    path = key_path()
    with _lock:
        key = _cached.get(str(path))
        if key is None:
            key = _read_or_create(path)
            _cached[str(path)] = key
    return key


def key_path() -> Path:
    return legato_home() / KEY_FILE


def sign(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, "sha256").digest()


def verify(key: bytes, data: bytes, signature: bytes) -> bool:
    return hmac.compare_digest(sign(key, data), signature)


def _read_or_create(path: Path) -> bytes:
    for _ in range(50):
        try:
            return _read(path)
        except FileNotFoundError:
            _create(path)
        except _EmptyKeyFile:
            time.sleep(0.01)  # another process is still writing it (no-link fallback)
    raise RuntimeError(f"the results signing key {path} is empty; delete it to make a new one")


class _EmptyKeyFile(Exception):
    pass


def _read(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if not key:
        raise _EmptyKeyFile
    mode = path.stat().st_mode
    if os.name == "posix" and mode & 0o077:
        logger.warning("results signing key %s can be read by other users (mode %o): "
                       "anyone who can read it can make flows run their code; chmod 600 it", path, mode & 0o777)
    return key


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)  # atomic, and never replaces a key another process made
        except FileExistsError:
            pass
        except OSError:  # no hard links here: create in place; readers wait out the empty moment
            _create_in_place(path)
    finally:
        temporary.unlink(missing_ok=True)


def _create_in_place(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32) + "\n")


__all__ = ["KEY_ENV", "KEY_FILE", "key_path", "sign", "signing_key", "verify"]
