#!/usr/bin/env python3
"""The track-ahead stage against the synthetic scenes' ground truth, run on the scenes' exact labels with
their exact cameras (a script that prints figures, not a test): mean ego-path IoU, rail position error,
obstacle recall (obstacles of at least 20 px in the envelope) and precision, distance error up to 100 m
(of obstacles whose ground contact is in view).

    .venv/bin/python benchmarks/track_truth.py                          # seeds 1000-1099, default scenes
    .venv/bin/python benchmarks/track_truth.py --track-obstacles 0.6    # ... with people and cars on the track

Default scenes rarely put anything in the envelope (a train ahead in about 8 % of them);
``--track-obstacles P`` adds a person, car or truck on the ego track to a share P of them
(``SceneConfig.p_track_obstacle``), ``--obstacle-range`` says how far ahead.
"""

import argparse
import json
import sys
import time

from rail_seg_ros import synth
from rail_seg_ros.sizes import parse_size
from rail_seg_ros.track import TrackAhead, score_frame, summarise

TARGETS = {"ego_path_iou": 0.95, "recall": 0.95, "distance_rel_mean": 0.05}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--n", type=int, default=100, help="scenes (default 100)")
    parser.add_argument("--size", default="288x512", metavar="HxW", help="scene size (default 288x512)")
    parser.add_argument("--track-obstacles", type=float, default=0.0, metavar="P",
                        help="share of scenes with a person, car or truck on the ego track (default 0)")
    parser.add_argument("--obstacle-range", default="8,40", metavar="NEAR,FAR",
                        help="how far ahead they stand, metres (default 8,40: farther ones are too small to draw)")
    parser.add_argument("--worst", type=int, default=5, help="list this many scenes with the lowest IoU")
    args = parser.parse_args()
    height, width = parse_size(args.size)
    near, far = (float(v) for v in args.obstacle_range.split(","))
    config = synth.SceneConfig(p_track_obstacle=args.track_obstacles, track_obstacle_range=(near, far))
    stage = TrackAhead()
    frames, per_seed, start = [], [], time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.n):
        scene = synth.make_scene(height, width, seed, config)
        truth = synth.track_truth(scene)
        camera = synth.camera_from_dict(truth["camera"])
        result = stage.run(scene.labels, camera)
        # as the bench: contacts nearer than the nearest visible ground are out of the distance error
        frame = score_frame(result, truth, (height, width), nearest_visible_m=camera.nearest_visible_distance())
        frames.append(frame)
        per_seed.append((frame["ego_path_iou"], seed, scene.world.style, frame["truth"] - frame["found"]))
    summary = summarise(frames)
    print(json.dumps(summary, indent=1))
    print(f"{args.n} scenes {height}x{width}, seeds {args.first_seed}..{args.first_seed + args.n - 1}, "
          f"track obstacles {args.track_obstacles}, {time.perf_counter() - start:.1f} s")
    for iou, seed, style, missed in sorted(per_seed)[: args.worst]:
        print(f"  seed {seed} ({style}): ego-path IoU {iou:.3f}, obstacles missed {missed}")
    rel = summary["distance_rel"]["mean"] if summary["distance_rel"] else None
    figures = {"ego_path_iou": summary["ego_path_iou"], "recall": summary["recall"], "distance_rel_mean": rel}
    for name, target in TARGETS.items():
        value = figures[name]
        ok = value is None or (value <= target if name.startswith("distance") else value >= target)
        print(f"{name}: {'n/a' if value is None else f'{value:.4f}'} (target {target}) {'ok' if ok else 'SHORT'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
