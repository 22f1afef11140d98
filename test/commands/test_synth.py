"""``rail-seg synth``: folder and bag output, --size parsing, refusals."""

import argparse
import json
import sys
import types
from pathlib import Path
from typing import Any, Dict, List

import cv2
import pytest

import rail_seg_ros
from rail_seg_ros.commands import synth as synth_cmd
from rail_seg_ros.errors import RailSegError

H, W = 96, 192


def _stems(folder: Path, suffix: str) -> List[str]:
    return sorted(p.stem for p in folder.iterdir() if p.suffix == suffix)



def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    synth_cmd.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_writes_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "data"
    assert synth_cmd.run(_args("--n", "2", "--size", "64x128", "--seed", "3", "--out", str(out),
                               "--no-progress")) == 0
    assert _stems(out / "uint8" / "rs19_val", ".png") == ["syn00000", "syn00001"]
    assert cv2.imread(str(out / "jpgs" / "rs19_val" / "syn00001.jpg")).shape == (64, 128, 3)
    assert "wrote 2 frames" in capsys.readouterr().out
    with pytest.raises(RailSegError, match="exists"):
        synth_cmd.run(_args("--n", "1", "--size", "64x128", "--out", str(out), "--no-progress"))


@pytest.mark.parametrize("size", ["512x", "x512", "512", "0x512", "16x512", "288x512x3", "288*512", "ax b", ""])
def test_cli_rejects_bad_size(size: str, tmp_path: Path) -> None:
    with pytest.raises(RailSegError, match="--size"):
        synth_cmd.run(_args("--size", size, "--out", str(tmp_path / "x"), "--no-progress"))
    assert not (tmp_path / "x").exists()


def test_parse_size() -> None:
    assert synth_cmd.parse_size("288x512") == (288, 512)
    assert synth_cmd.parse_size("256X512") == (256, 512)


@pytest.fixture
def fake_bag(monkeypatch: pytest.MonkeyPatch) -> List[Dict[str, Any]]:
    """Stand-in for rail_seg_ros.bag: records the calls and drains the frames."""
    calls: List[Dict[str, Any]] = []

    def write_frames_bag(path: Any, frames: Any, fps: float = 10.0, storage: str = "sqlite3",
                         progress: bool = True, total: Any = None, **kwargs: Any) -> Path:
        calls.append({"path": Path(path), "frames": list(frames), "fps": fps, "storage": storage, "total": total})
        return Path(path)

    module = types.ModuleType("rail_seg_ros.bag")
    module.write_frames_bag = write_frames_bag   # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rail_seg_ros.bag", module)
    monkeypatch.setattr(rail_seg_ros, "bag", module, raising=False)
    return calls


def test_cli_bag_output_goes_through_the_bag_hook(tmp_path: Path, fake_bag: List[Dict[str, Any]]) -> None:
    synth_cmd.run(_args("--n", "3", "--size", "48x96", "--sequence", "--fps", "5", "--out", str(tmp_path / "a.mcap"),
                        "--no-progress"))
    call = fake_bag[-1]
    assert call["path"] == tmp_path / "a.mcap" and call["storage"] == "mcap" and call["fps"] == 5.0
    assert call["total"] == 3 and len(call["frames"]) == 3
    image, labels, truth = call["frames"][0]
    assert image.shape == (48, 96, 3) and labels.shape == (48, 96)
    assert truth["ego_track"] is not None and truth["camera"]["width"] == 96
    synth_cmd.run(_args("--n", "1", "--size", "48x96", "--bag", "--no-labels", "--out", str(tmp_path / "b"),
                        "--no-progress"))
    assert fake_bag[-1]["storage"] == "sqlite3" and fake_bag[-1]["frames"][0][1] is None
    with pytest.raises(RailSegError, match="does not match"):
        synth_cmd.run(_args("--size", "48x96", "--storage", "sqlite3", "--out", str(tmp_path / "c.mcap")))
    with pytest.raises(RailSegError, match="for bags"):
        synth_cmd.run(_args("--size", "48x96", "--storage", "mcap", "--out", str(tmp_path / "folder")))
    assert len(fake_bag) == 2


def test_cli_track_obstacles_puts_one_on_the_track(tmp_path: Path) -> None:
    out = tmp_path / "obstacles"
    synth_cmd.run(_args("--n", "3", "--size", "144x256", "--seed", "7", "--track-obstacles", "1",
                        "--obstacle-range", "10,30", "--out", str(out), "--no-progress"))
    meta = json.loads((out / "synth.json").read_text())
    assert meta["config"]["p_track_obstacle"] == 1.0 and meta["config"]["track_obstacle_range"] == [10.0, 30.0]
    for stem in ("syn00000", "syn00001", "syn00002"):
        truth = json.loads((out / "uint8" / "rs19_val" / f"{stem}.track.json").read_text())
        on_track = [o for o in truth["obstacles"] if o["in_envelope"]]
        assert on_track, f"{stem}: no obstacle on the ego track"
        assert any(9.0 <= o["distance_m"] <= 31.0 for o in on_track)


def test_cli_drab_clothes_recorded(tmp_path: Path) -> None:
    out = tmp_path / "drab"
    synth_cmd.run(_args("--n", "1", "--size", "96x192", "--drab-clothes", "0.5", "--out", str(out), "--no-progress"))
    config = json.loads((out / "synth.json").read_text())["config"]
    assert config["p_drab_clothes"] == 0.5 and config["p_track_obstacle"] == 0.0


@pytest.mark.parametrize("argv, message", [(("--track-obstacles", "1.5"), "--track-obstacles"),
                                           (("--drab-clothes", "2"), "--drab-clothes 2.0: must be from 0 to 1"),
                                           (("--obstacle-range", "40,8"), "--obstacle-range"),
                                           (("--obstacle-range", "8"), "--obstacle-range")])
def test_cli_rejects_bad_obstacle_options(argv: Any, message: str, tmp_path: Path) -> None:
    with pytest.raises(RailSegError, match=message):
        synth_cmd.run(_args(*argv, "--out", str(tmp_path / "x"), "--no-progress"))
    assert not (tmp_path / "x").exists()
