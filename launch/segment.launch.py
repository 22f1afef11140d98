"""Start rail_seg_ros segmentation_node on one camera (and RViz2 showing it, if asked).

    ros2 launch rail_seg_ros segment.launch.py camera:=/front/image_raw namespace:=front \\
        model:=squeezenas_lat_small_cityscapes backend:=tensorrt use_rviz:=true

Arguments
    camera       the camera's sensor_msgs/Image topic. The node's ``image`` input is remapped to it,
                 ``image/compressed`` to CAMERA/compressed and ``camera_info`` to the camera_info next
                 to it (/front/image_raw -> /front/camera_info, /image_raw -> /camera_info), as
                 image_transport names them.
    namespace    the node's namespace: outputs are /NAMESPACE/segmentation_node/{labels,color,overlay,...}
    model        model card name or path, or an architecture name with weights ("" = from params_file:
                 the shipped rail_default card, which needs no download)
    weights      checkpoint for the model ("" = from params_file / the card's own)
    backend      auto | tensorrt | onnxruntime | torch ("" = from params_file)
    params_file  parameters file (default: the package's config/segment.yaml)
    use_rviz     true: also start RViz2 with config/rail_seg.rviz, pointed at this camera and namespace
                 (true/false/1/0, as launch conditions read them); without rviz2 installed it is skipped
                 with a warning and the node runs alone

DDS: unless you set a DDS profile yourself (FASTDDS_DEFAULT_PROFILES_FILE, FASTRTPS_DEFAULT_PROFILES_FILE,
FASTDDS_*, CYCLONEDDS_URI), this file sets the package's (config/dds) for everything the launch starts
after it, a camera driver included: the publisher's shared-memory segment decides whether 1080p frames
arrive best effort.

One node per camera: include this file once per camera with its own namespace and camera topic,
as multi_camera.launch.py does:

    ros2 launch rail_seg_ros multi_camera.launch.py front_camera:=/front/image_raw rear_camera:=/rear/image_raw

or start it twice by hand with namespace:=front camera:=... and namespace:=rear camera:=.... Node
names stay segmentation_node; the namespaces keep their topics and /diagnostics entries apart
("front/segmentation_node: segmentation"). A ``/**:`` params file applies to every node.
"""

import os

from ament_index_python.packages import PackageNotFoundError, get_package_prefix, get_package_share_directory
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from rail_seg_ros.contract import (
    EXECUTABLE,
    INPUT_CAMERA_INFO,
    INPUT_COMPRESSED,
    INPUT_IMAGE,
    NODE_NAME,
    OUTPUT_NAMES,
    output_topics,
)
from rail_seg_ros.dds import launch_environment

PACKAGE = "rail_seg_ros"
RVIZ_CAMERA = "/camera/image_raw"  # the topics config/rail_seg.rviz shows: the root node's outputs and this camera


def camera_info_topic(camera: str) -> str:
    """camera_info next to the camera's image topic: /front/image_raw -> /front/camera_info, /image_raw -> /camera_info."""
    return camera.rsplit("/", 1)[0] + "/" + INPUT_CAMERA_INFO if "/" in camera else INPUT_CAMERA_INFO


def _rviz_remappings(namespace: str, camera: str):
    """Remaps moving the RViz config's topics to this namespace and camera (no edited copy of the file)."""
    shown, wanted = output_topics("/"), output_topics(namespace)
    remaps = [(shown[name], wanted[name]) for name in OUTPUT_NAMES if shown[name] != wanted[name]]
    return remaps + ([(RVIZ_CAMERA, camera)] if camera != RVIZ_CAMERA else [])


def _rviz_installed() -> bool:
    try:
        get_package_prefix("rviz2")
        return True
    except (PackageNotFoundError, ValueError, KeyError):
        return False


def _launch_setup(context, *args, **kwargs):
    share = get_package_share_directory(PACKAGE)
    camera = LaunchConfiguration("camera").perform(context)
    namespace = LaunchConfiguration("namespace").perform(context)
    params_file = LaunchConfiguration("params_file").perform(context) or os.path.join(share, "config", "segment.yaml")
    overrides = {}
    for name in ("model", "weights", "backend"):
        value = LaunchConfiguration(name).perform(context)
        if value:  # only what was given, so the params file keeps the rest
            overrides[name] = value
    remappings = [
        (INPUT_IMAGE, camera),
        (INPUT_COMPRESSED, camera + "/compressed"),
        (INPUT_CAMERA_INFO, camera_info_topic(camera)),
    ]
    node = Node(
        package=PACKAGE,
        executable=EXECUTABLE,
        name=NODE_NAME,
        namespace=namespace,
        parameters=[params_file, overrides],
        remappings=remappings,
        output="screen",
        emulate_tty=True,
    )
    if not IfCondition(LaunchConfiguration("use_rviz")).evaluate(context):  # launch's own boolean parsing
        return [node]
    if not _rviz_installed():  # checked before anything starts: never an RViz failure beside a running node
        return [LogInfo(msg="WARNING: use_rviz is true but rviz2 is not installed (no rviz2 package in "
                            "AMENT_PREFIX_PATH): starting the segmentation node without RViz"), node]
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        namespace=namespace,
        arguments=["-d", os.path.join(share, "config", "rail_seg.rviz")],
        remappings=_rviz_remappings(namespace, camera),
        output="screen",
    )
    return [node, rviz]


def generate_launch_description() -> LaunchDescription:
    dds = [SetEnvironmentVariable(name, value) for name, value in launch_environment().items()]
    return LaunchDescription(dds + [
        DeclareLaunchArgument("camera", default_value="/camera/image_raw",
                              description="the camera's sensor_msgs/Image topic"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its outputs"),
        DeclareLaunchArgument("model", default_value="",
                              description="model card name or path, or an architecture name; empty: params_file"),
        DeclareLaunchArgument("weights", default_value="", description="checkpoint path; empty: params_file / card"),
        DeclareLaunchArgument("backend", default_value="",
                              description="auto | tensorrt | onnxruntime | torch; empty: params_file"),
        DeclareLaunchArgument("params_file", default_value="",
                              description="parameters file; empty: the package's config/segment.yaml"),
        DeclareLaunchArgument("use_rviz", default_value="false", description="also start RViz2 with rail_seg.rviz"),
        OpaqueFunction(function=_launch_setup),
    ])
