"""Files from the weight host: the cache, verified downloads, asset names and the default URL.

A published file is looked for, in order (``fetch``): in a local folder (the repo's
``models/``), in the user cache (``cache_root()/weights``) and finally downloaded from
``<base_url><asset name>`` into that cache (``base_url`` may also be a folder: a mirror on a
shared drive). Every file is checked against the size and
sha256 it was published with before use, as ``keras.utils.get_file(file_hash=...)`` does; a
download is written to a temporary file that is renamed only once it has been verified, so
the cache never holds a partial or wrong file. Files are read as bytes: nothing here
unpickles anything.

Downloads are flat: ``resnet26_el.cifar10/weights.h5`` is fetched as
``<base_url>resnet26_el.cifar10.weights.h5`` (``release_asset``), because a release's assets
(GitHub's included) are one folder whose names cannot contain "/". ``python -m
training.release`` stages exactly those files for upload.

This module knows files, sizes and digests, not models: ``el_zoo.pretrained`` says which
files a published model has.
"""

import hashlib
import os
import shutil
import sys
import warnings
from pathlib import Path

from el_zoo.atomic import atomic_path, check_writable

CACHE_ENV = "EL_ZOO_CACHE"  # the cache root; default ~/.cache/el_zoo
URL_ENV = "EL_ZOO_WEIGHTS_URL"  # replaces the manifest's base_url (a mirror, a test server)
# Where `python -m training.publish` says published files are served (the manifest's
# base_url); `python -m training.release` stages the files to upload there.
DEFAULT_BASE_URL = "https://github.com/el-zoo/el_zoo/releases/download/models-v1/"
WEIGHTS_CACHE = "weights"  # the cache's folder of published files (data sets have their own)


def cache_root(cache_dir=None):
    """The root of el_zoo's user cache: ``cache_dir``, else ``$EL_ZOO_CACHE``, else
    ``~/.cache/el_zoo``. Published files go to its ``weights/``, data sets to ``data/``."""
    root = cache_dir or os.environ.get(CACHE_ENV) or "~/.cache/el_zoo"
    return user_path(root, "el_zoo's cache", f"set {CACHE_ENV} to a folder you can write in")


def user_path(text, what, fix="give a path without ~, or set HOME"):
    """``text``, a path setting (``what``), with ``~`` as the user's home folder, as a shell
    would expand it; for a user without one (a container's user with neither HOME nor an
    entry with a home) an error that ends with ``fix``."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # Python's bare "Could not determine home directory."
        raise ValueError(f"{what} is {text}, but this user has no home folder (HOME is "
                         f"unset and the user has no entry with one): {fix}.") from None


def check_cache_writable(path, cache_dir=None, size=None):
    """Raises a clear OSError now if file (or folder) ``path`` in el_zoo's cache cannot be
    written later (the cache root is a file, read-only, or takes no new files; or, given
    ``size`` in bytes, its disk has less room than that), naming the cache and how to choose
    another."""
    another = "pass a cache_dir= you can write in" if cache_dir else \
        f"set {CACHE_ENV} to a folder you can write in"
    check_writable(path, remedy=f"it is in el_zoo's cache {cache_root(cache_dir)}: {another}")
    if size is None:
        return
    folder = Path(path).parent
    while not folder.exists():  # the folders atomic_path would create
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < size:  # found now, not when a download has filled the disk
        raise OSError(
            f"cannot write {path} ({size / 1e6:.1f} MB): the disk of el_zoo's cache "
            f"{cache_root(cache_dir)} has {free / 1e6:.1f} MB free. Free some space, or "
            f"{another} on another disk."
        )


def sha256_of(path):
    """The hex sha256 of the file at ``path``, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def release_asset(relative):
    """The download name of published file ``relative``: 'resnet26_el.cifar10/weights.h5'
    -> 'resnet26_el.cifar10.weights.h5'. Release assets live in one flat folder; model
    names (``arch.tag``) contain no "/", so the mapping is one-to-one."""
    return relative.replace("/", ".")


def base_url(recorded):
    """Where published files are downloaded from: ``$EL_ZOO_WEIGHTS_URL``, else
    ``recorded`` (the manifest's ``base_url``); None when neither is set."""
    return os.environ.get(URL_ENV) or recorded or None


# How to get a good copy of a published file that is not the published one.
REFETCH = f"delete it (it is fetched again from the weights URL, ${URL_ENV}) or reinstall el_zoo"
# ... of a cached one when no download URL is known: deleting it fetches nothing
REPLACE = (f"replace it with the published file (delete it and copy that one there), or set "
           f"{URL_ENV} to where the published files are served (a URL or a folder): it is "
           "then downloaded again")


def check_file(path, *, size, sha256, name, fix=REFETCH):
    """``path`` if its size and sha256 are ``size`` and ``sha256`` (those published for
    ``name``), else a ValueError that ends with ``fix``, how to get a good copy."""
    path = Path(path)
    if not _is_published(path, size=size, sha256=sha256):
        raise ValueError(
            f"{path} has size {path.stat().st_size} and sha256 {sha256_of(path)} but the "
            "manifest records "
            f"{size} and {sha256} for {name}: the file is corrupt or was changed; {fix}."
        )
    return path


def _is_published(path, *, size, sha256):
    """Whether the file at ``path`` has the published ``size`` and ``sha256``."""
    return path.stat().st_size == size and sha256_of(path) == sha256


def fetch(relative, *, size, sha256, base_url, local_dir=None, cache_dir=None):
    """The verified local path of published file ``relative`` (``"NAME.TAG/weights.h5"``):
    ``local_dir``'s copy, the cached copy, or a download from ``base_url`` (see
    ``el_zoo.hub.base_url``) into the cache.

    Example:
        ```python
        path = fetch("resnet26_el.cifar10/weights.h5", size=1234, sha256="ab12...",
                     base_url="https://example.org/models/")
        ```
    """
    check = {"size": size, "sha256": sha256}
    if local_dir is not None and (Path(local_dir) / relative).exists():
        return check_file(Path(local_dir) / relative, **check, name=relative)
    cached = cache_root(cache_dir) / WEIGHTS_CACHE / relative
    if cached.exists():
        if _is_published(cached, **check):
            return cached
        if not base_url:
            return check_file(cached, **check, name=relative, fix=REPLACE)  # the error
        # Not the published file (a tag republished since, or damaged on disk): downloaded
        # again and replaced, as keras.utils.get_file does.
        warnings.warn(f"the cached {cached} is not the published {relative} (size or "
                      "sha256 differ): downloading it again.", stacklevel=2)
    elif not base_url:
        raise FileNotFoundError(
            f"published file {relative} is neither in {local_dir} nor in the cache "
            f"{cached.parent}, and the manifest gives no download URL; set {URL_ENV} or "
            "pass weights='path/to/weights.h5'."
        )
    check_cache_writable(cached, cache_dir, size=size)  # before the download
    return download(asset_url(base_url, relative), cached, **check)


def asset_url(base_url, relative):
    """The URL of published file ``relative`` under ``base_url``: a URL (``https://``,
    ``file://``, ...), or the path of a folder that holds the release assets (a mirror on a
    shared drive, what ``python -m training.release`` stages), which urllib would refuse as
    "unknown url type"."""
    if "://" not in base_url:
        folder = user_path(base_url, URL_ENV)
        if not folder.is_dir():
            setting = URL_ENV if os.environ.get(URL_ENV) == base_url else \
                "the manifest's base_url"
            raise FileNotFoundError(
                f"the weights URL {base_url!r} ({setting}) is neither a URL (https://..., "
                "file:///...) nor a folder that exists: give the address or the folder "
                "where the published files are served."
            )
        base_url = folder.resolve().as_uri()
    return base_url.rstrip("/") + "/" + release_asset(relative)


def download(url, target, *, size, sha256, progress=None, timeout=60):
    """Downloads ``url`` to ``target`` if its size and sha256 are ``size`` and ``sha256``.

    Written to a temporary file beside ``target`` and renamed only when verified, so the
    cache never holds a partial or wrong file. Progress goes to stderr on a terminal.

    Example:
        ```python
        download("https://example.org/models/m.weights.h5", "m.weights.h5", size=1234,
                 sha256="ab12...")
        ```
    """
    # The HTTP client (http.client, ssl, email: ~25 ms, a third of `import el_zoo`) loads
    # only for a download.
    import urllib.error
    import urllib.request

    target = Path(target)
    progress = sys.stderr.isatty() if progress is None else progress
    digest, received = hashlib.sha256(), 0
    try:
        with atomic_path(target) as temporary:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    open(temporary, "wb") as f:
                _check_announced_size(url, response, size)
                while received <= size and (chunk := response.read(1 << 16)):
                    f.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    if progress:
                        print(f"\rdownloading {target.name}: {received / 1e6:.1f} of "
                              f"{size / 1e6:.1f} MB", end="", file=sys.stderr)
            if progress:
                print(file=sys.stderr)
            if received != size:  # more: read no further than a byte past the file
                got = f"more than {size}" if received > size else received
                raise ValueError(
                    f"download of {url} is incomplete or wrong: {got} bytes received, "
                    f"{size} expected. Nothing was cached; try again."
                )
            if digest.hexdigest() != sha256:
                raise ValueError(
                    f"download of {url} has sha256 {digest.hexdigest()} but the manifest "
                    f"records {sha256}: refusing to use it. Nothing was cached."
                )
    except urllib.error.URLError as error:
        raise FileNotFoundError(
            f"cannot download {url}: {getattr(error, 'reason', error)}. Check the network "
            f"or {URL_ENV}, or pass weights='path/to/weights.h5'."
        ) from None
    except (ConnectionError, TimeoutError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"download of {url} failed: {error}. Nothing was cached; try "
                         "again.") from None
    return target


def _check_announced_size(url, response, size):
    """Refuses a reply whose Content-Length is not the published file's size before
    reading it: a server's error, sign-in or listing page sent with status 200, or another
    file, which would otherwise be downloaded whole (whatever its size) to be refused."""
    announced = response.headers.get("Content-Length", "")
    if not announced.strip().isdigit() or int(announced) == size:
        return
    kind = response.headers.get("Content-Type", "")
    page = " (an HTML page, not the file: the server's error, sign-in or listing page?)" \
        if kind.startswith("text/html") else f" ({kind})" if kind else ""
    raise ValueError(
        f"{url} sends {int(announced)} bytes{page}, but the published file has {size}: "
        f"refused before downloading it. Check {URL_ENV} (or the manifest's base_url). "
        "Nothing was cached."
    )
