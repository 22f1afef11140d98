"""The engine cache's one key: everything that makes a cached graph or engine stale changes it."""

import dataclasses
import os
from pathlib import Path

from rail_seg_ros.backends import cache
from rail_seg_ros.backends.cache import (
    EXPORT_VERSION,
    cache_key,
    calibration_digest,
    card_digest,
    default_cache_dir,
    prepare_cache_dir,
    runtime_digest,
)
from rail_seg_ros.model_card import ModelCard


def _card(tmp_path: Path, weights: bytes = b"weights-1", name: str = "m") -> ModelCard:
    path = tmp_path / f"{name}.pt"
    path.write_bytes(weights)
    return ModelCard(name=name, architecture="squeezenas_mac_small", label_set="railsem19",
                     input_size=(64, 128), weights=str(path))


def _calib_folder(tmp_path: Path, name: str = "calib") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "a.png").write_bytes(b"frame-a")
    return folder


def test_key_is_stable_and_named_by_the_card(tmp_path):
    card = _card(tmp_path)
    assert cache_key(card, ("labels",), "fp32") == cache_key(card, ("labels",), "fp32")
    assert cache_key(card, ("labels",), "fp32").startswith("m-")


def test_weights_content_changes_the_key_not_the_file_name(tmp_path):
    # a retrained models/x.pt keeps its name: the key must still change
    card = _card(tmp_path)
    before = cache_key(card, ("labels",), "fp16")
    Path(card.weights).write_bytes(b"weights-2, retrained")
    assert cache_key(card, ("labels",), "fp16") != before


def test_input_size_outputs_and_precision_change_the_key(tmp_path):
    card = _card(tmp_path)
    base = cache_key(card, ("labels",), "fp32")
    bigger = dataclasses.replace(card, input_size=(128, 256))
    assert cache_key(bigger, ("labels",), "fp32") != base
    assert cache_key(card, ("labels", "confidence"), "fp32") != base
    assert cache_key(card, ("labels",), "fp16") != base


def test_calibration_source_changes_the_int8_key_only(tmp_path):
    card = _card(tmp_path)
    first, second = _calib_folder(tmp_path, "c1"), _calib_folder(tmp_path, "c2")
    synthetic = cache_key(card, ("labels",), "int8")
    assert cache_key(card, ("labels",), "int8", str(first)) != synthetic
    assert cache_key(card, ("labels",), "int8", str(first)) != cache_key(card, ("labels",), "int8", str(second))
    # fp32 and fp16 engines do not depend on calibration frames
    assert cache_key(card, ("labels",), "fp16", str(first)) == cache_key(card, ("labels",), "fp16")


def test_rewritten_calibration_frames_change_the_key(tmp_path):
    card = _card(tmp_path)
    folder = _calib_folder(tmp_path)
    before = cache_key(card, ("labels",), "int8", str(folder))
    frame = folder / "a.png"
    frame.write_bytes(b"another frame, longer")
    os.utime(frame, ns=(1, 1))
    assert cache_key(card, ("labels",), "int8", str(folder)) != before
    assert calibration_digest(None) == calibration_digest(None)


def test_tensorrt_version_and_compute_capability_change_the_key(tmp_path):
    card = _card(tmp_path)
    xavier = ["tensorrt8.5.2.2", "sm72", "Xavier"]
    assert cache_key(card, ("labels",), "fp16", runtime=xavier) != cache_key(
        card, ("labels",), "fp16", runtime=["tensorrt10.3.0", "sm72", "Xavier"])
    # AGX and NX Xavier may report the same name; a different capability still gets its own engine
    assert cache_key(card, ("labels",), "fp16", runtime=xavier) != cache_key(
        card, ("labels",), "fp16", runtime=["tensorrt8.5.2.2", "sm87", "Xavier"])
    assert runtime_digest(xavier) != runtime_digest(["tensorrt8.5.2.2", "sm87", "Xavier"])


def test_a_given_graph_file_is_keyed_by_its_content(tmp_path):
    card = _card(tmp_path)
    graph = tmp_path / "model.onnx"
    graph.write_bytes(b"graph one")
    before = cache_key(card, ("labels",), "fp32", graph_file=graph)
    graph.write_bytes(b"graph two")
    assert cache_key(card, ("labels",), "fp32", graph_file=graph) != before


def test_export_version_is_in_the_card_digest(tmp_path, monkeypatch):
    card = _card(tmp_path)
    before = card_digest(card)
    monkeypatch.setattr(cache, "EXPORT_VERSION", EXPORT_VERSION + 1)
    assert card_digest(card) != before


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RAIL_SEG_CACHE", str(tmp_path / "cache-here"))
    assert default_cache_dir() == tmp_path / "cache-here"
    assert prepare_cache_dir().is_dir()
    assert prepare_cache_dir(tmp_path / "given") == tmp_path / "given"
