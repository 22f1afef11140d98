"""Training frames: synthetic validation seeds, bags with ground truth, loader processes."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from rail_seg_ros.errors import RailSegError
from rail_seg_ros.train.config import make_config
from rail_seg_ros.train.data import SYNTH_VAL_SEED, build_datasets, build_frames
from rail_seg_ros.train.loop import train

from .conftest import SIZE, scene, tiny_config


def test_synth_validation_never_uses_training_seeds():
    synth = pytest.importorskip("rail_seg_ros.synth")
    config = make_config("squeezenas_mac_small", data="synth:3", size=SIZE)
    train_frames, val_frames = build_datasets(config)
    assert (len(train_frames), len(val_frames)) == (3, 8)
    rgb, labels = synth.render_scene(SIZE[0], SIZE[1], SYNTH_VAL_SEED)
    assert np.array_equal(val_frames.get(0)[0], rgb) and np.array_equal(val_frames.get(0)[1], labels)
    assert np.array_equal(train_frames.get(2)[0], synth.render_scene(SIZE[0], SIZE[1], 2)[0])


def test_synth_track_obstacles_stand_in_the_training_scenes_only():
    synth = pytest.importorskip("rail_seg_ros.synth")
    config = make_config("squeezenas_mac_small", data="synth:2", size=SIZE, synth_track_obstacles=1.0)
    train_frames, val_frames = build_datasets(config)
    with_obstacle = synth.SceneConfig(p_track_obstacle=1.0)
    for seed in range(2):
        rgb, labels = synth.render_scene(SIZE[0], SIZE[1], seed, with_obstacle)
        assert np.array_equal(train_frames.get(seed)[1], labels)
        assert not np.array_equal(labels, synth.render_scene(SIZE[0], SIZE[1], seed)[1])  # the obstacle is drawn
    assert np.array_equal(val_frames.get(0)[1], synth.render_scene(SIZE[0], SIZE[1], SYNTH_VAL_SEED)[1])
    with pytest.raises(RailSegError, match="synth-track-obstacles"):
        make_config("squeezenas_mac_small", data="pairs:/x", size=SIZE, synth_track_obstacles=0.5)
    with pytest.raises(RailSegError, match="from 0 to 1"):
        make_config("squeezenas_mac_small", data="synth:2", size=SIZE, synth_track_obstacles=1.5)


def test_synth_drab_clothes_in_the_training_scenes_only():
    synth = pytest.importorskip("rail_seg_ros.synth")
    config = make_config("squeezenas_mac_small", data="synth:2", size=SIZE, synth_track_obstacles=1.0,
                         synth_drab_clothes=1.0)
    train_frames, val_frames = build_datasets(config)
    drab = synth.SceneConfig(p_track_obstacle=1.0, p_drab_clothes=1.0)
    for seed in range(2):
        assert np.array_equal(train_frames.get(seed)[0], synth.render_scene(SIZE[0], SIZE[1], seed, drab)[0])
    assert np.array_equal(val_frames.get(0)[0], synth.render_scene(SIZE[0], SIZE[1], SYNTH_VAL_SEED)[0])
    with pytest.raises(RailSegError, match="synth-drab-clothes is for synth"):
        make_config("squeezenas_mac_small", data="pairs:/x", size=SIZE, synth_drab_clothes=0.5)
    with pytest.raises(RailSegError, match="synth-drab-clothes -0.1: must be from 0 to 1"):
        make_config("squeezenas_mac_small", data="synth:2", size=SIZE, synth_drab_clothes=-0.1)


def test_bag_frames_with_ground_truth(tmp_path):
    bag = pytest.importorskip("rail_seg_ros.bag")
    frames = [scene(i) for i in range(3)] + [(scene(3)[0], None)]
    path = bag.write_frames_bag(tmp_path / "b", frames, progress=False)
    warnings = []
    config = make_config("squeezenas_mac_small", data=f"bag:{path}", size=SIZE)
    loaded = build_frames(config.data, config, warn=warnings.append)
    assert len(loaded) == 3 and any("without ground truth" in w for w in warnings)
    rgb, labels = loaded.get(1)
    assert rgb.shape == (*SIZE, 3) and labels.dtype == np.uint8
    assert np.array_equal(labels, cv2.resize(scene(1)[1], SIZE[::-1], interpolation=cv2.INTER_NEAREST))


def test_loader_processes_give_the_same_batches(pairs_root, tmp_path):
    config = tiny_config(f"pairs:{pairs_root}", tmp_path / "w0", epochs=1)
    in_process = train(config, progress=False, verbose=False)
    workers = train(replace(config, out=str(tmp_path / "w1"), workers=1), progress=False, verbose=False)
    assert workers.step_losses == in_process.step_losses


def test_cli_synth_scene_options_reach_the_config():
    import argparse

    from rail_seg_ros.commands import train as train_cmd

    parser = argparse.ArgumentParser()
    train_cmd.add_arguments(parser)
    config = train_cmd.config_from_args(parser.parse_args(
        ["--model", "squeezenas_mac_small", "--data", "synth:4", "--synth-track-obstacles", "0.7",
         "--synth-drab-clothes", "0.5", "--out", "unused"]))
    assert (config.synth_track_obstacles, config.synth_drab_clothes) == (0.7, 0.5)
