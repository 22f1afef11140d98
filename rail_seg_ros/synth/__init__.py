"""Procedural rail scenes with exact RailSem19 labels.

No real rail data set can ship with the package, so these scenes are what its default model is
trained on and what the one-command demo replays. A pinhole camera looks along the ego track over a
flat ground plane; everything in the scene is a polygon drawn with OpenCV into the image and, with the
same vertices, into the label map, so the label of a pixel is the class of the last thing drawn over
it. Ground layers are drawn first, upright things after them from far to near (painter's algorithm).
Light, haze, blur and noise change the image only.

Modules: ``config`` (SceneConfig, class ids), ``palette`` (colours, textures, shapes), ``world`` (the
drive's geometry and camera), ``canvas`` (drawing primitives), ``draw_ground`` / ``draw_props`` /
``draw_objects`` (what is drawn), ``build_*`` and ``builder`` (laying a drive out: objects,
surroundings, the railway), ``finish`` (image effects), ``render`` (frames from seeds), ``truth``
(the track-ahead ground truth and exact camera of a scene), ``output`` (a dataset folder). Everything public is importable from ``rail_seg_ros.synth``.
"""

from .config import (
    CAR,
    CONSTRUCTION,
    FENCE,
    HUMAN,
    IMAGE_DIR,
    LABEL_DIR,
    MIN_SIZE,
    ON_RAILS,
    POLE,
    RAIL_EMBEDDED,
    RAIL_RAISED,
    RAIL_TRACK,
    ROAD,
    SIDEWALK,
    SKY,
    STYLES,
    TERRAIN,
    TRACKBED,
    TRAFFIC_LIGHT,
    TRAFFIC_SIGN,
    TRAM_TRACK,
    TRUCK,
    VEGETATION,
    SceneConfig,
)
from .output import write_dataset
from .render import Scene, frame_seed, iter_frames, iter_scenes, make_scene, render_scene, render_sequence
from .truth import (
    CAMERA_SUFFIX,
    TRUTH_SUFFIX,
    camera_from_dict,
    camera_info_yaml,
    ground_camera,
    iter_frames_with_truth,
    load_track_truth,
    track_truth,
    truth_path,
)

__all__ = [
    "CAR", "CONSTRUCTION", "FENCE", "HUMAN", "IMAGE_DIR", "LABEL_DIR", "MIN_SIZE", "ON_RAILS", "POLE",
    "RAIL_EMBEDDED", "RAIL_RAISED", "RAIL_TRACK", "ROAD", "SIDEWALK", "SKY", "STYLES", "TERRAIN", "TRACKBED",
    "TRAFFIC_LIGHT", "TRAFFIC_SIGN", "TRAM_TRACK", "TRUCK", "VEGETATION", "CAMERA_SUFFIX", "TRUTH_SUFFIX", "Scene",
    "SceneConfig", "camera_from_dict", "camera_info_yaml", "frame_seed", "ground_camera", "iter_frames",
    "iter_frames_with_truth", "iter_scenes", "load_track_truth", "make_scene", "render_scene", "render_sequence",
    "track_truth", "truth_path", "write_dataset",
]
