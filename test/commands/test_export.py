"""rail-seg export: ONNX fp32 and int8 files checked against torch, the card overrides, and a clear error
where TensorRT is missing."""

import pytest

from rail_seg_ros.cli import main


def test_export_cli_checks_against_torch(tmp_path, small_card, capsys):
    out = tmp_path / "model.onnx"
    assert main(["export", "--model", str(small_card), "--format", "onnx", "--calib-frames", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and "largest logit difference" in printed and "labels equal on 100.00 %" in printed


def test_export_int8_cli(tmp_path, small_card, capsys):
    out = tmp_path / "int8.onnx"
    assert main(["export", "--model", str(small_card), "--precision", "int8", "--calib-frames", "2",
                 "--out", str(out)]) == 0
    import onnx

    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(out)).graph.node)


def test_engine_export_without_tensorrt_is_a_clear_error(tmp_path, small_card):
    from rail_seg_ros.backends.tensorrt_backend import tensorrt_available

    if tensorrt_available():
        pytest.skip("TensorRT is available here")
    assert main(["export", "--model", str(small_card), "--format", "engine", "--calib-frames", "1",
                 "--out", str(tmp_path / "x.engine")]) == 2
    assert not (tmp_path / "x.engine").exists()


def test_export_takes_the_shared_card_overrides(tmp_path, small_card, capsys):
    import onnx

    out = tmp_path / "small.onnx"
    assert main(["export", "--model", str(small_card), "--input-size", "64x128", "--color-order", "bgr",
                 "--calib-frames", "1", "--out", str(out)]) == 0
    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 64, 128, 3]
    assert "input 1x64x128x3 uint8" in capsys.readouterr().out
    assert main(["export", "--model", str(small_card), "--input-size", "64x", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "--input-size '64x' is not HxW" in capsys.readouterr().err and not (tmp_path / "x.onnx").exists()
