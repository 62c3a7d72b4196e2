"""Atomic writes: a file appears complete under its name, or not at all."""

import contextlib
import os
import tempfile
from pathlib import Path


def check_writable(path, remedy="choose another path", *, suffix=None):
    """Raises a clear OSError now if a file cannot be written at ``path`` later, so that no
    long work is done for nothing: ``path`` is a folder, a parent of it is a file, or its
    folder (or the nearest existing folder above, in which ``atomic_path`` would create the
    rest) does not take new files. Creates nothing. ``remedy`` ends the message: what the
    caller can do (by default, give another path).

    Arguments:
        path: where the file will be written.
        remedy: the end of an OSError's message.
        suffix: the suffix of the kind of file written (``".tflite"``); a path that does not
            end with it is a ValueError (the tools that read such files tell them by it).

    Example:
        ```python
        check_writable("out/model.tflite", suffix=".tflite")  # before minutes of conversion
        ```
    """
    text = os.fspath(path)
    path = folder = Path(text)
    try:
        if path.is_dir() or text.endswith(("/", os.sep)):
            raise IsADirectoryError(f"{text} is a folder; give the path of a file to write in it.")
        if suffix is not None:
            _check_suffix(path, suffix)
        folder = path.parent
        while not folder.exists():  # atomic_path creates the missing folders
            folder = folder.parent
        if not folder.is_dir():
            raise NotADirectoryError(
                f"cannot write {text}: {folder} is a file, not a folder; {remedy}."
            )
        with tempfile.TemporaryFile(dir=folder):  # the only sure test (permissions, read-only
            pass                                  # file systems, root): try it
    except (IsADirectoryError, NotADirectoryError):
        raise
    except OSError as error:
        raise PermissionError(
            f"cannot write {text}: {folder} takes no new files ({error.strerror or error}); "
            f"{remedy}."
        ) from None


def _check_suffix(path, suffix):
    """A ValueError unless ``path`` ends with ``suffix``: under another name (``-o m.h5``) the
    file reads as another kind (el_zoo and Keras take ``m.h5`` for weights)."""
    if os.fspath(path).endswith(suffix):
        return
    raise ValueError(
        f"{os.fspath(path)} does not end with {suffix}: the file written there is a {suffix} "
        f"file, and the tools that read one tell it by that suffix; give a path ending "
        f"{suffix}, e.g. {path.with_suffix(suffix)}."
    )


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
