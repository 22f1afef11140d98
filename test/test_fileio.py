"""fileio: atomic writes leave nothing behind and touch nothing of the user's; output targets are checked."""

import os

import pytest

from rail_seg_ros.errors import RailSegError
from rail_seg_ros.fileio import atomic_path, atomic_write_text, check_output_file, check_output_folder


def hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_failed_final_rename_leaves_no_temporary_and_says_so(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst) == str(target):
            raise OSError(18, "Invalid cross-device link")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(RailSegError, match=r"cannot write .*out.txt \(Invalid cross-device link\)"):
        atomic_write_text(target, "x")
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_of_a_folder_keeps_the_folder_it_would_replace(tmp_path, monkeypatch):
    target = tmp_path / "bag"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst) == str(target) and not str(src).endswith(".oldbag"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(RailSegError, match="No space left"), atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("new")
    assert (target / "mine.txt").read_text() == "keep" and hidden(tmp_path) == []


def test_an_error_while_writing_removes_only_our_temporary(tmp_path):
    users = tmp_path / f".out.txt.tmp{os.getpid()}"  # the old temporary name: may be the user's file
    users.write_text("the user's")
    with pytest.raises(ValueError), atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("half")
        raise ValueError("boom")
    assert users.read_text() == "the user's" and hidden(tmp_path) == [users.name]
    atomic_write_text(tmp_path / "out.txt", "whole")
    assert (tmp_path / "out.txt").read_text() == "whole" and hidden(tmp_path) == [users.name]


def test_unwritable_parent_is_one_line(tmp_path):
    with pytest.raises(RailSegError, match=r"cannot write /proc/rail_seg_test/x.txt"):
        atomic_write_text("/proc/rail_seg_test/x.txt", "x")


@pytest.mark.parametrize("where, message", [
    ("file", "exists and is a file"),
    ("full", "holds files already"),
    (".", "is the current folder"),
    ("/proc/rail_seg_out", "cannot write in /proc"),
    ("/sys/rail_seg_out", "cannot write in /sys"),
    ("file/below", "is a file, not a folder"),
])
def test_output_folder_refusals(tmp_path, monkeypatch, where, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("x")
    with pytest.raises(RailSegError, match=message):
        check_output_folder(where, force=(where == "."))
    assert (tmp_path / "full" / "mine.txt").exists() and (tmp_path / "file").read_text() == "x"


def test_output_folder_accepts_new_empty_or_forced(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a").write_text("x")
    check_output_folder(tmp_path / "new" / "deeper")
    check_output_folder(tmp_path / "empty")
    check_output_folder(tmp_path / "full", force=True)
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_output_file_refusals(tmp_path):
    with pytest.raises(RailSegError, match="is a folder; name a file"):
        check_output_file(tmp_path)
    with pytest.raises(RailSegError, match="cannot write in /proc"):
        check_output_file("/proc/x.onnx")
    check_output_file(tmp_path / "new.onnx")
