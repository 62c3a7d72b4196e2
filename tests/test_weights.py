"""Published weights: user cache and download from a loopback HTTP server (good, truncated,
wrong hash, missing), verified before use, nothing half-written left in the cache. The
server serves what ``training.release`` stages, so the release layout and the download
names are tested together."""

import functools
import http.server
import importlib
import json
import re
import shutil
import threading
import types
import warnings

import h5py
import numpy as np
import pytest

import el_zoo
from el_zoo import builder, hub, model_record, pretrained
from tests.conftest import REPO, SMALL, tiny_binary_model
from tests.test_registry import link_positions, publish, weights_file
from training import release

ASSET = "resnet18_el.toy.weights.h5"  # models/resnet18_el.toy/weights.h5 as a release asset


class Server:
    """A static file server on 127.0.0.1 that counts requests and can truncate replies, or
    answer every request with ``page`` (HTML, status 200; ``length``: with its
    Content-Length)."""

    def __init__(self, root, truncate=False, page=None, length=True):
        self.requests = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                if page is not None:  # a sign-in or error page, served as if all were well
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    if length:
                        self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    try:
                        self.wfile.write(page)
                    except ConnectionError:  # the client stopped reading: what it should do
                        pass
                    self.close_connection = True
                    return
                if truncate:  # announce the whole file, send half of it, hang up
                    path = root / self.path.lstrip("/")
                    payload = path.read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.connection.close()
                    return
                super().do_GET()

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def remote(tmp_path, monkeypatch):
    """A published model whose files are only on a server: (models dir, served dir, cache)."""
    path = weights_file(tmp_path)
    models = publish(tmp_path, path)
    served = tmp_path / "served"
    release.stage(models, served)
    shutil.rmtree(models / "resnet18_el.toy")
    cache = tmp_path / "cache"
    monkeypatch.setattr(pretrained, "MODELS_DIR", models)
    monkeypatch.setenv(hub.CACHE_ENV, str(cache))
    return models, served, cache


def cache_files(cache):
    return sorted(p.name for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def load_is_refused(served, monkeypatch, error, match, **server_options):
    """Loads the toy tag from a Server(served, **server_options), which it must refuse with
    ``error`` matching ``match``; the server (its ``requests``)."""
    server = Server(served, **server_options)
    monkeypatch.setenv(hub.URL_ENV, server.url)
    try:
        with pytest.raises(error, match=match):
            el_zoo.load("resnet18_el.toy")
    finally:
        server.close()
    return server


def test_download_is_verified_cached_and_reused(remote, monkeypatch):
    models, served, cache = remote
    server = Server(served)
    monkeypatch.setenv(hub.URL_ENV, server.url)
    try:
        model = el_zoo.load("resnet18_el.toy")
        assert model.output_shape == (None, 10)
        assert cache_files(cache) == ["weights.h5"]
        el_zoo.load("resnet18_el.toy")  # from the cache: no second request
        assert server.requests == ["/" + ASSET]
    finally:
        server.close()


def test_truncated_download_is_refused_and_not_cached(remote, monkeypatch):
    _, served, cache = remote
    load_is_refused(served, monkeypatch, ValueError, "Nothing was cached", truncate=True)
    assert cache_files(cache) == []


def test_download_with_a_wrong_hash_is_refused_and_not_cached(remote, monkeypatch):
    _, served, cache = remote
    path = served / ASSET
    payload = bytearray(path.read_bytes())
    payload[-1] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(payload))
    load_is_refused(served, monkeypatch, ValueError, "sha256 .* refusing to use it")
    assert cache_files(cache) == []


def test_missing_file_on_the_server_is_a_clear_error(remote, monkeypatch):
    _, served, cache = remote
    (served / ASSET).unlink()
    load_is_refused(served, monkeypatch, FileNotFoundError, "cannot download .*weights.h5")
    assert cache_files(cache) == []


def test_a_page_served_instead_of_the_file_is_refused_without_reading_it(remote, monkeypatch):
    # before: the page was read to its end, however long, then "incomplete or wrong: 330
    # bytes received ... try again", which no retry mends
    _, served, cache = remote
    size = (served / ASSET).stat().st_size
    page = b"<html><body>Sign in to continue</body></html>" * (3 * size // 40)
    load_is_refused(served, monkeypatch, ValueError,
                    f"sends {len(page)} bytes \\(an HTML page, not the file.*the published "
                    f"file has {size}: refused before downloading", page=page)
    # without a Content-Length: read no further than a byte past the file
    load_is_refused(served, monkeypatch, ValueError, f"more than {size} bytes received",
                    page=page, length=False)
    assert cache_files(cache) == []


def test_a_weights_url_that_is_a_folder_is_read_from_the_folder(remote, monkeypatch):
    # a mirror on a shared drive; before: urllib's bare "ValueError: unknown url type:
    # '/.../resnet18_el.toy.weights.h5'"
    _, served, cache = remote
    monkeypatch.setenv(hub.URL_ENV, str(served))
    assert el_zoo.load("resnet18_el.toy").output_shape == (None, 10)
    assert cache_files(cache) == ["weights.h5"]
    shutil.rmtree(cache)
    monkeypatch.setenv(hub.URL_ENV, "example.org/models/")  # no scheme, no such folder
    with pytest.raises(FileNotFoundError, match="the weights URL 'example.org/models/' "
                       f"\\({hub.URL_ENV}\\) is neither a URL .* nor a folder that exists"):
        el_zoo.load("resnet18_el.toy")


def test_a_cache_on_a_full_disk_is_refused_before_the_download(remote, monkeypatch):
    # before: the download filled the disk, then "download of URL failed: [Errno 28] No
    # space left on device. Nothing was cached; try again"
    _, served, cache = remote
    monkeypatch.setattr(shutil, "disk_usage", lambda path: types.SimpleNamespace(free=1000))
    server = load_is_refused(served, monkeypatch, OSError,
                             f"the disk of el_zoo's cache {cache} has 0.0 MB free. Free some "
                             f"space, or set {hub.CACHE_ENV} to a folder")
    assert server.requests == [] and cache_files(cache) == []


def test_no_local_file_and_no_url_is_a_clear_error(remote, monkeypatch):
    monkeypatch.delenv(hub.URL_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="gives no download URL"):
        el_zoo.load("resnet18_el.toy")


def test_a_corrupted_cached_file_without_a_download_url_is_refused(remote, monkeypatch):
    _, served, cache = remote
    monkeypatch.delenv(hub.URL_ENV, raising=False)
    target = cache / "weights" / "resnet18_el.toy" / "weights.h5"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * 10)
    with pytest.raises(ValueError, match="delete it") as error:
        el_zoo.load("resnet18_el.toy")
    # without a URL nothing is fetched again: said so, it sent the user to a second error
    assert f"or set {hub.URL_ENV} to where the published files are served" in str(error.value)
    assert "fetched again" not in str(error.value)


def test_a_stale_cached_file_is_downloaded_again(remote, monkeypatch):
    # a tag republished since it was cached (or a damaged copy). before: refused, "delete
    # it (it is fetched again)", by hand on every user's machine
    _, served, cache = remote
    target = cache / "weights" / "resnet18_el.toy" / "weights.h5"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"an older file")
    server = Server(served)
    monkeypatch.setenv(hub.URL_ENV, server.url)
    try:
        with pytest.warns(UserWarning, match="is not the published resnet18_el.toy/weights.h5"):
            model = el_zoo.load("resnet18_el.toy")
    finally:
        server.close()
    assert model.output_shape == (None, 10) and server.requests == ["/" + ASSET]
    assert target.read_bytes() == (served / ASSET).read_bytes()
    assert cache_files(cache) == ["weights.h5"]


def test_weights_path_that_does_not_exist_is_an_error_not_a_random_init(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        el_zoo.load("resnet18_el", weights=str(tmp_path / "nope.h5"), **SMALL)


def test_release_stages_every_verified_file_under_its_download_name(tmp_path, capsys):
    path = weights_file(tmp_path)
    models = publish(tmp_path, path)
    manifest_path = models / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["base_url"] = hub.DEFAULT_BASE_URL
    manifest_path.write_text(json.dumps(manifest))
    out = tmp_path / "assets"
    assert release.main(["--models-dir", str(models), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [ASSET]
    assert (out / ASSET).read_bytes() == (models / "resnet18_el.toy" / "weights.h5").read_bytes()
    printed = capsys.readouterr().out
    assert "gh release create models-v1 --repo el-zoo/el_zoo" in printed
    with pytest.raises(SystemExit, match="already exists"):
        release.main(["--models-dir", str(models), "--out", str(out)])


def test_release_refuses_a_file_that_does_not_match_the_manifest(tmp_path):
    path = weights_file(tmp_path)
    models = publish(tmp_path, path)
    with open(models / "resnet18_el.toy" / "weights.h5", "ab") as f:
        f.write(b"changed after publishing")
    with pytest.raises(SystemExit, match="does not match its manifest record"):
        release.main(["--models-dir", str(models), "--out", str(tmp_path / "assets")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "weights.h5"]


def test_release_upload_command_names_the_github_release_or_the_url():
    assert release.upload_command(
        "https://github.com/o/r/releases/download/v2/", "A").startswith(
        "gh release create v2 --repo o/r ")
    assert "served at https://example.org/w/" in release.upload_command(
        "https://example.org/w/", "A")


def test_release_refuses_an_empty_manifest_and_a_missing_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="lists no files: publish a model first"):
        release.main(["--models-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "a")])
    path = weights_file(tmp_path)
    models = publish(tmp_path, path)
    (models / "resnet18_el.toy" / "weights.h5").unlink()
    with pytest.raises(SystemExit, match="listed in the manifest but missing"):
        release.main(["--models-dir", str(models), "--out", str(tmp_path / "a")])
    assert not (tmp_path / "a").exists()


def test_a_truncated_weights_file_is_one_clear_error(tmp_path):
    path = weights_file(tmp_path)
    payload = path.read_bytes()
    path.write_bytes(payload[: len(payload) // 2])  # an interrupted copy
    with pytest.raises(builder.WeightsFileError,
                       match=r"weights.h5 is not a complete HDF5 weights file; re-download "
                             r"or re-save it \(h5py: .*truncated file"):
        el_zoo.load("resnet18_el", weights=str(path), **SMALL)
    assert issubclass(builder.WeightsFileError, ValueError)  # the CLI prints these


def test_a_model_no_builder_built_saves_without_a_config(tmp_path):
    path = el_zoo.save_weights(tiny_binary_model(), tmp_path / "tiny.h5")
    assert builder.stored_config(path) == (None, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.h5"]


PUBLISHED_EL = REPO / "models" / "mobilenet_v1_el.cifar10" / "weights.h5"


def test_published_weights_loaded_by_path_build_with_their_published_options(cifar_images):
    # mobilenet_v1_el.cifar10 was trained with links after BN (mobilenet_v1_el's default),
    # which no weight shape shows; its file has no config (published before save_weights),
    # but its content is published: loaded by path it builds like the tag, and is not
    # rewritten.
    digest = hub.sha256_of(PUBLISHED_EL)
    images, _ = cifar_images
    by_path = el_zoo.load("mobilenet_v1_el", weights=str(PUBLISHED_EL), stem="cifar",
                          classes=10)
    assert link_positions(by_path) == {"after_bn"}
    by_tag = el_zoo.load("mobilenet_v1_el.cifar10")
    np.testing.assert_array_equal(by_path(images, training=False), by_tag(images, training=False))
    assert hub.sha256_of(PUBLISHED_EL) == digest


def test_published_weights_loaded_by_path_refuse_another_architecture():
    fix = r"it is the published mobilenet_v1_el.cifar10: load it with el_zoo.load\(" \
          r"'mobilenet_v1_el.cifar10'\)"
    # (its links after BN are mobilenet_v1_el's defaults: elastic_link=True describes them)
    with pytest.raises(ValueError, match=r"holds weights of mobilenet_v1_el\(width_multiplier="
                                         r"1.0, stem='cifar', elastic_link=True\), but the "
                                         r"model is mobilenet_v1 \(another model\).*" + fix):
        el_zoo.load("mobilenet_v1", weights=str(PUBLISHED_EL), stem="cifar", classes=10)
    before_bn = {"position": "before_bn"}
    with pytest.raises(ValueError, match=r"\(the published mobilenet_v1_el.cifar10\) was "
                                         r"trained with Elastic-Link options defaults; "
                                         r"elastic_link=\{'position': 'before_bn'\} cannot"):
        el_zoo.load("mobilenet_v1_el", weights=str(PUBLISHED_EL), elastic_link=before_bn)
    with pytest.raises(ValueError, match=r"\(another elastic_link\).*" + fix):
        el_zoo.nets.mobilenet.mobilenet_v1_el(weights=str(PUBLISHED_EL), stem="cifar",
                                              classes=10, elastic_link=before_bn)
    # the builder's defaults are the published model's: called directly, it loads the file
    assert el_zoo.nets.mobilenet.mobilenet_v1_el(weights=str(PUBLISHED_EL), stem="cifar",
                                                 classes=10).output_shape == (None, 10)


def test_a_backbone_file_loaded_with_its_classifier_says_to_pass_include_top_false(tmp_path):
    # it said "no weights for 1 layer(s), e.g. ['predictions']. Was it saved from another
    # architecture or width_multiplier?"
    backbone = el_zoo.load("resnet18_el", include_top=False, pooling="avg", **SMALL)
    path = el_zoo.save_weights(backbone, tmp_path / "backbone.h5")
    with pytest.raises(ValueError, match=r"backbone.h5 holds the backbone of resnet18_el\(.*\), "
                                         r"saved with include_top=False: it has no classifier "
                                         r"weights. Load it with include_top=False"):
        el_zoo.load("resnet18_el", weights=str(path), classes=2)
    again = el_zoo.load("resnet18_el", weights=str(path), include_top=False, pooling="avg")
    assert again.output_shape == backbone.output_shape


def test_a_file_of_a_backbone_under_a_new_head_says_it_holds_a_nested_model(tmp_path):
    # README: Fine-tuning's model holds the backbone as one layer; its file was refused as
    # "no weights for 58 layer(s) ... another architecture or width_multiplier?"
    backbone = el_zoo.load("resnet18_el", include_top=False, pooling="avg", **SMALL)
    inputs = el_zoo.keras.Input(SMALL["input_shape"])
    head = el_zoo.keras.layers.Dense(2, activation="softmax")(backbone(inputs, training=False))
    path = el_zoo.save_weights(el_zoo.keras.Model(inputs, head), tmp_path / "tuned.h5")
    with pytest.raises(ValueError, match=r"tuned.h5 was saved from a model that holds the model "
                                         r"'resnet18_el' as one of its layers .* Rebuild that "
                                         r"model as you built it and call its load_weights"):
        el_zoo.load("resnet18_el", weights=str(path), classes=2, **{
            k: v for k, v in SMALL.items() if k != "classes"})


@pytest.mark.parametrize("nested", [True, False])
def test_a_fine_tuned_model_saved_whole_as_h5_and_given_as_weights_says_to_load_model_it(
        tmp_path, nested):
    # README: Fine-tuning keeps the tuned model whole, model.save("tuned.h5"); given to
    # el_zoo.load as weights, it was told to "Rebuild that model ... or save the whole model
    # (model.save('model.keras')) and load it with keras.models.load_model": it was saved
    # whole already
    backbone = el_zoo.load("resnet18_el", include_top=False, pooling="avg", **SMALL)
    inputs = el_zoo.keras.Input(SMALL["input_shape"]) if nested else backbone.input
    features = backbone(inputs, training=False) if nested else backbone.output
    tuned = el_zoo.keras.Model(inputs, el_zoo.keras.layers.Dense(2)(features))
    tuned.save(tmp_path / "tuned.h5")
    with pytest.raises(ValueError, match=r"It holds that whole model \(model.save\): load it "
                                         r"with el_zoo.keras.models.load_model\('.*tuned.h5'\), "
                                         r"not el_zoo.load.$"):
        el_zoo.load("resnet18_el", weights=str(tmp_path / "tuned.h5"), include_top=False,
                    **{k: v for k, v in SMALL.items() if k != "classes"})


def test_a_cache_that_is_a_file_is_a_clear_error_before_the_download(remote, monkeypatch):
    # was "download of URL failed: [Errno 20] Not a directory: ... Nothing was cached; try
    # again": trying again cannot help, and neither the cache nor $EL_ZOO_CACHE was named
    _, served, cache = remote
    cache.write_text("not a folder")
    server = Server(served)
    monkeypatch.setenv(hub.URL_ENV, server.url)
    try:
        with pytest.raises(NotADirectoryError, match=rf"{cache} is a file, not a folder; it "
                                                     rf"is in el_zoo's cache {cache}: set "
                                                     r"EL_ZOO_CACHE to a folder you can write"):
            el_zoo.load("resnet18_el.toy")
    finally:
        server.close()
    assert server.requests == []


def test_a_user_without_a_home_folder_is_told_to_set_the_cache(monkeypatch):
    # a container's user of an arbitrary id, without HOME: Path.home() raised a bare
    # RuntimeError("Could not determine home directory."), a traceback from el-zoo evaluate
    import pathlib

    def no_home(*args):
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv(hub.CACHE_ENV, raising=False)
    monkeypatch.setattr(pathlib.Path, "expanduser", no_home)  # as Python does then
    with pytest.raises(ValueError, match=r"el_zoo's cache is ~/.cache/el_zoo, but this user "
                                         r"has no home folder .*: set EL_ZOO_CACHE to a folder"):
        hub.cache_root()


def test_a_data_folder_named_as_the_tag_in_the_working_directory_is_not_the_weights(
        tmp_path, monkeypatch):
    # run from a data folder (cifar10/ beside it), every load("X.cifar10") took the folder
    # for the weights file and said "weights file cifar10 does not exist"
    (tmp_path / "cifar10" / "test").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    model = el_zoo.load("resnet18_el.cifar10")
    assert model.published_name == "resnet18_el.cifar10"
    assert el_zoo.load("resnet18_el", weights="cifar10").output_shape == (None, 10)


def test_a_folder_named_as_the_model_in_the_working_directory_is_warned_of(tmp_path,
                                                                          monkeypatch):
    # a run's --output-dir resnet18_el.cifar10 (weights of its own) beside the user: a bare
    # name is a model name, so load gave the published model without a word, the folder's
    # weights silently lost; the warning names the call that loads them, and that folder
    # given as a path is told the same
    run = tmp_path / "resnet18_el.cifar10"
    run.mkdir()
    el_zoo.save_weights(el_zoo.load("resnet18_el", **SMALL), run / "weights.h5")
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match=r"el_zoo.load\('resnet18_el.cifar10'\) loads the "
                                         r"published weights resnet18_el.cifar10, not the "
                                         r"folder resnet18_el.cifar10 in the working directory:"
                                         r" a bare name is a model name\. .*el_zoo.load\("
                                         r"'resnet18_el', weights='./resnet18_el.cifar10/"
                                         r"weights.h5'\)"):
        assert el_zoo.load("resnet18_el.cifar10").published_name == "resnet18_el.cifar10"
    own = el_zoo.load("resnet18_el", weights="./resnet18_el.cifar10/weights.h5")
    assert own.output_shape == (None, 10) and not hasattr(own, "published_name")
    with pytest.raises(ValueError, match=r"'./resnet18_el.cifar10' is a folder path, not a "
                                         r"model name: load the weights file in it with "
                                         r"el_zoo.load\(MODEL, weights='./resnet18_el.cifar10/"
                                         r"weights.h5'\)"):
        el_zoo.load("./resnet18_el.cifar10")
    (tmp_path / "resnet18_el").mkdir()
    with pytest.warns(UserWarning, match=r"loads resnet18_el untrained \(random weights\), "
                                         r"not the folder resnet18_el .*weights='./resnet18_el/"
                                         r"FILE.h5'"):
        el_zoo.load("resnet18_el", **SMALL)


def test_a_copy_of_the_published_folder_in_the_working_directory_is_the_same_model(
        tmp_path, monkeypatch):
    # a copy of models/resnet18_el.cifar10/ holds the published file: nothing to warn of
    shutil.copytree(REPO / "models" / "resnet18_el.cifar10", tmp_path / "resnet18_el.cifar10")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert el_zoo.load("resnet18_el.cifar10").published_name == "resnet18_el.cifar10"


def test_a_folder_given_as_the_weights_file_says_it_is_a_folder(tmp_path):
    (tmp_path / "run").mkdir()
    folder = str(tmp_path / "run")
    with pytest.raises(IsADirectoryError, match=r"weights='.*run' is a folder, not a "
                                                r"weights file: give the .h5 file in it.*"
                                                rf"load_model\('{re.escape(folder)}'\)\.$"):
        el_zoo.load("resnet18_el", weights=folder, **SMALL)


@pytest.mark.parametrize("include_top", [True, False])
def test_a_file_of_a_new_head_on_the_backbones_output_says_it_has_layers_of_your_own(
        tmp_path, include_top):
    # keras.applications' idiom, Dense(...)(backbone.output): its file was refused as "no
    # weights for 1 layer(s), e.g. ['predictions']. Was it saved from another architecture
    # or width_multiplier?" (include_top=False: "... holds weights for 1 layer(s) the model
    # has not, e.g. ['dense'] ... another architecture?")
    backbone = el_zoo.load("resnet18_el", include_top=False, pooling="avg", **SMALL)
    head = el_zoo.keras.layers.Dense(2, activation="softmax", name="my_head")(backbone.output)
    path = el_zoo.save_weights(el_zoo.keras.Model(backbone.input, head), tmp_path / "tuned.h5")
    with pytest.raises(ValueError, match=r"tuned.h5 holds all of resnet18_el's backbone and "
                                         r"weights for 1 layer\(s\) it has not, e.g. "
                                         r"\['my_head'\]: it was saved from a model with layers "
                                         r"of your own .* call its load_weights\(path\)"):
        el_zoo.load("resnet18_el", weights=str(path), include_top=include_top, **SMALL)


def test_the_tag_of_a_name_is_a_tag_beside_a_file_of_its_name(tmp_path, monkeypatch):
    # load("X.cifar10") read a file cifar10 in the working directory as its weights ("cifar10
    # is not an HDF5 weights file"); only weights= may name a file, and a path there names one
    (tmp_path / "cifar10").write_text("notes on the data set")
    monkeypatch.chdir(tmp_path)
    assert el_zoo.load("resnet18_el.cifar10").published_name == "resnet18_el.cifar10"
    with pytest.raises(builder.WeightsFileError, match="cifar10 is not an HDF5 weights file"):
        el_zoo.load("resnet18_el", weights="cifar10")


def test_a_model_saved_whole_in_keras_format_given_as_weights_says_to_load_it_with_keras(
        tmp_path):
    # a fine-tuned model's tuned.keras given as el_zoo.load(..., weights=) was "not an HDF5
    # weights file; el_zoo loads files written by el_zoo.save_weights ...", which said
    # nothing of what loads it
    backbone = el_zoo.load("resnet18_el", **{**SMALL, "classes": None}, include_top=False,
                           pooling="avg")
    inputs = el_zoo.keras.Input((32, 32, 3))
    tuned = el_zoo.keras.Model(inputs, el_zoo.keras.layers.Dense(2)(backbone(inputs)))
    tuned.save(tmp_path / "tuned.keras")
    path = str(tmp_path / "tuned.keras")
    with pytest.raises(builder.WeightsFileError,
                       match=rf"tuned.keras is a model saved whole in Keras' format .*not a "
                             rf"weights file: load it with el_zoo.keras.models.load_model\("
                             rf"'{re.escape(path)}'\) and give that model"):
        el_zoo.load("resnet18_el", weights=path, include_top=False)


def _binary_refusal(names, model_name="resnet18_el"):
    """convert's and predict's message for class names of a binary classifier of a single
    output other than two, as a pattern."""
    return re.escape(
        f"{model_name} has a single output (a binary classifier: the score of its positive class), "
        "so class_names takes two names, the negative class then the positive one, e.g. "
        f"['cat', 'dog']; got {len(names)}: {names}.")


@pytest.mark.parametrize("activation", ["sigmoid", None])
def test_a_binary_classifiers_two_class_names_are_saved_with_its_weights(
        activation, tmp_path, monkeypatch):
    """el_zoo's head of one output (a sigmoid's probability, or a logit) is saved with two
    names, its negative class then its positive one, as convert and predict take them, and
    el_zoo.load names the model with them again: predict lists both, convert writes both
    to the labels file. Other counts are refused before anything is written. Before:
    ["cat", "dog"] was refused, "2 class names for resnet18_el, which has 1 outputs.", and
    ["dog"] was saved."""
    from PIL import Image

    config = {**SMALL, "classes": 1}
    model = el_zoo.load("resnet18_el", **config, classifier_activation=activation)
    path = tmp_path / "binary.h5"
    for names in (["dog"], ["cat", "dog", "frog"]):
        with pytest.raises(ValueError, match=_binary_refusal(names)):
            el_zoo.save_weights(model, path, class_names=names)
    assert not path.exists()
    el_zoo.save_weights(model, path, class_names=["cat", "dog"])
    assert builder.stored_class_names(path) == ("cat", "dog")
    loaded = el_zoo.load("resnet18_el", weights=str(path), classifier_activation=activation)
    assert loaded.class_names == ("cat", "dog")
    image = tmp_path / "image.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)).save(image)
    (row,) = el_zoo.predict(loaded, [image])
    assert sorted(name for name, _ in row) == ["cat", "dog"]
    # convert folds the links first, a new model that keeps the names
    convert_module = importlib.import_module("el_zoo.convert")
    monkeypatch.setattr(convert_module, "_convert_keras_model", lambda *a, **k: b"converted")
    el_zoo.convert(loaded, tmp_path / "binary.tflite", verify_images=0)
    assert (tmp_path / "binary.labels.txt").read_text().splitlines() == ["cat", "dog"]


def test_a_binary_classifiers_file_of_one_class_name_loads_unnamed_with_a_warning(tmp_path):
    # save_weights took one name per output before, so such files exist: their one name
    # said nothing of the negative class, and predict printed it for label 0. Their
    # weights still load; the names are left out, with a warning that says why
    model = el_zoo.load("resnet18_el", **{**SMALL, "classes": 1},
                        classifier_activation="sigmoid")
    path = el_zoo.save_weights(model, tmp_path / "binary.h5")
    with h5py.File(path, "r+") as f:  # as the old save_weights wrote class_names=["dog"]
        f.attrs[builder.CLASS_NAMES_ATTRIBUTE] = json.dumps(["dog"])
    with pytest.warns(UserWarning, match=r"binary.h5 names the classes \['dog'\], which do "
                                         r"not fit resnet18_el: " + _binary_refusal(["dog"]) +
                                         r" Its classes are left unnamed"):
        loaded = el_zoo.load("resnet18_el", weights=str(path), classifier_activation="sigmoid")
    assert model_record.class_names_of(loaded) is None


def test_a_binary_classifiers_file_loaded_without_its_activation_is_told_to_give_it(tmp_path):
    # the file gives classes=1 but not the head's activation; before: "classes=1 with a
    # softmax head outputs 1.0 for every image", of a classes=1 the caller never passed
    model = el_zoo.load("resnet18_el", **{**SMALL, "classes": 1},
                        classifier_activation="sigmoid")
    path = el_zoo.save_weights(model, tmp_path / "binary.h5", class_names=["cat", "dog"])
    with pytest.raises(ValueError, match=re.escape(
            f"resnet18_el: {path} holds the head of a binary classifier (one output), and a "
            "weights file does not record how that output ends: pass "
            "classifier_activation='sigmoid' for a probability or classifier_activation=None "
            "for a logit, as the model was built.")):
        el_zoo.load("resnet18_el", weights=str(path))


def test_a_fine_tuned_binary_heads_two_class_names_are_saved_with_its_weights(tmp_path):
    # a Dense(1) head of one's own (fine-tuned in Keras), saved as convert names it
    keras = el_zoo.keras
    inputs = keras.Input((8, 8, 3))
    logit = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(inputs))
    binary = keras.Model(inputs, logit, name="binary")
    path = tmp_path / "binary.h5"
    with pytest.raises(ValueError, match=_binary_refusal(["dog"], "binary")):
        el_zoo.save_weights(binary, path, class_names=["dog"])
    el_zoo.save_weights(binary, path, class_names=["cat", "dog"])
    assert builder.stored_class_names(path) == ("cat", "dog")
