"""Output paths are checked before any long work: a clear error, and nothing written."""

import pytest

from el_zoo.atomic import check_writable


def test_check_writable_names_the_problem(unwritable_path):
    output, message = unwritable_path
    with pytest.raises(OSError) as error:
        check_writable(output)
    assert message in str(error.value)


def test_check_writable_accepts_new_files_in_new_folders_and_creates_nothing(tmp_path):
    check_writable(tmp_path / "new" / "deeper" / "m.tflite")
    check_writable(tmp_path / "m.tflite")
    assert list(tmp_path.iterdir()) == []


def test_a_trailing_slash_names_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_writable(f"{tmp_path}/new/")


def test_convert_checks_its_output_path_before_converting(unwritable_path, monkeypatch):
    from larq_compute_engine.mlir.python import converter as lce_converter

    from el_zoo.convert import convert
    from tests.conftest import tiny_binary_model

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted before checking the output path")

    monkeypatch.setattr(lce_converter, "convert_saved_model", no_conversion)
    output, message = unwritable_path
    with pytest.raises(OSError) as error:
        convert(tiny_binary_model(), output, verify_images=0)
    assert message in str(error.value)


def test_convert_refuses_an_output_not_named_tflite_before_converting(tmp_path, monkeypatch):
    from larq_compute_engine.mlir.python import converter as lce_converter

    from el_zoo.convert import convert
    from tests.conftest import tiny_binary_model

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted before checking the output path")

    monkeypatch.setattr(lce_converter, "convert_saved_model", no_conversion)
    with pytest.raises(ValueError, match=r"m\.h5 does not end with \.tflite: the file written "
                                         r"there is a \.tflite file.*e\.g\. .*new/m\.tflite\.$"):
        convert(tiny_binary_model(), tmp_path / "new" / "m.h5", verify_images=0)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_as_output_is_named_as_a_folder_not_for_its_suffix(tmp_path):
    from el_zoo.registry import TFLITE_SUFFIX

    with pytest.raises(IsADirectoryError, match="is a folder; give the path of a file"):
        check_writable(tmp_path, suffix=TFLITE_SUFFIX)


def test_convert_writes_a_path_with_tilde_in_the_home_folder(tmp_path, monkeypatch):
    from el_zoo.convert import convert
    from tests.conftest import tiny_binary_model

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    written = convert(tiny_binary_model(), "~/m.tflite", verify_images=0)
    assert written == tmp_path / "home" / "m.tflite" and written.stat().st_size > 0
    assert not (tmp_path / "~").exists()
