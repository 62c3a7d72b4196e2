"""Stages the published files of ``models/`` as release assets, ready to upload.

    python -m training.release --out /tmp/models-v1

Every file the manifest lists is checked against its recorded size and sha256 and copied
to ``OUT/<el_zoo.hub.release_asset(path)>`` (``resnet26_el.cifar10/weights.h5`` ->
``resnet26_el.cifar10.weights.h5``): exactly the names ``el_zoo.load`` downloads from the
manifest's ``base_url``. The folder appears complete or not at all (staged beside it, then
renamed). It then prints the command that uploads it to the release ``base_url`` names.
"""

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

from el_zoo.hub import check_file, release_asset
from el_zoo.pretrained import MANIFEST_NAME, MODELS_FOLDER, read_manifest
from el_zoo.provenance import REPOSITORY

GITHUB_RELEASE = re.compile(
    r"^https://github\.com/(?P<repo>[^/]+/[^/]+)/releases/download/(?P<tag>[^/]+)/?$")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to create with the assets")
    parser.add_argument("--models-dir", default=str(REPOSITORY / MODELS_FOLDER))
    return parser.parse_args(argv)


def verified_files(models_dir):
    """(source path, asset name) of every file in the manifest, each checked."""
    manifest = read_manifest(models_dir)
    if not manifest.files:
        raise ValueError(f"{Path(models_dir) / MANIFEST_NAME} lists no files: publish a "
                         "model first (python -m training.publish RUN --tag TAG).")
    files = []
    for relative, record in manifest.files.items():
        path = Path(models_dir) / relative
        if not path.exists():
            raise FileNotFoundError(f"{path} is listed in the manifest but missing; restore "
                                    "it or republish it (python -m training.publish).")
        try:
            check_file(path, size=record.size, sha256=record.sha256, name=relative)
        except ValueError:
            raise ValueError(f"{path} does not match its manifest record (size/sha256); "
                             "regenerate the manifest (python -m training.publish "
                             "--regenerate) or restore the file.") from None
        files.append((path, release_asset(relative)))
    return manifest, files


def stage(models_dir, out):
    """Copies every verified published file to ``out`` under its asset name."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; pass a new folder to --out.")
    manifest, files = verified_files(models_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for path, asset in files:
            shutil.copyfile(path, staging / asset)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest, [asset for _, asset in files]


def upload_command(base_url, out):
    """How to upload ``out`` to the release ``base_url`` points at."""
    match = GITHUB_RELEASE.match(base_url or "")
    if match is None:
        return f"upload every file in {out} so that it is served at {base_url}<file name>"
    return (f"gh release create {match['tag']} --repo {match['repo']} --title "
            f"'Published weights {match['tag']}' {out}/*   "
            f"(or: gh release upload {match['tag']} --repo {match['repo']} {out}/* --clobber)")


def main(argv=None):
    args = parse_args(argv)
    try:
        manifest, assets = stage(args.models_dir, args.out)
    except (ValueError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
    size = sum((Path(args.out) / a).stat().st_size for a in assets)
    print(f"staged {len(assets)} verified files ({size / 1e6:.1f} MB) in {args.out}")
    print(upload_command(manifest.base_url, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
