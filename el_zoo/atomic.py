"""Atomic writes: a file appears complete under its name, or not at all."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``; renames it to ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        if os.path.exists(temporary):  # mkstemp makes 0600 files: use the usual mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_bytes_atomically(path, payload):
    with atomic_path(path) as temporary:
        temporary.write_bytes(payload)
    return Path(path)


def write_text_atomically(path, text):
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return Path(path)
