"""One segmentation_node per camera: segment.launch.py included once per camera, each in its own namespace.

    ros2 launch rail_seg_ros multi_camera.launch.py \\
        front_camera:=/front/image_raw rear_camera:=/rear/image_raw backend:=tensorrt

gives /front/segmentation_node/{labels,color,overlay,...} and /rear/segmentation_node/{...}, and two
/diagnostics entries ("front/segmentation_node: segmentation", "rear/..."). For more cameras copy an
include below with another namespace and camera topic. Both nodes share params_file (its ``/**:``
section applies to every node); give a file with ``/front/segmentation_node:`` and
``/rear/segmentation_node:`` sections for per-camera settings. On one GPU each node holds its own
engine: mind the memory on a Jetson.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

CAMERAS = (("front", "/front/image_raw"), ("rear", "/rear/image_raw"))


def generate_launch_description() -> LaunchDescription:
    segment = os.path.join(get_package_share_directory("rail_seg_ros"), "launch", "segment.launch.py")
    actions = [
        DeclareLaunchArgument("model", default_value="", description="model for every camera; empty: params_file"),
        DeclareLaunchArgument("weights", default_value="", description="checkpoint; empty: params_file / card"),
        DeclareLaunchArgument("backend", default_value="", description="backend for every camera"),
        DeclareLaunchArgument("params_file", default_value="", description="parameters file shared by the nodes"),
    ]
    for namespace, topic in CAMERAS:
        actions.append(DeclareLaunchArgument(f"{namespace}_camera", default_value=topic,
                                             description=f"Image topic of the {namespace} camera"))
        actions.append(IncludeLaunchDescription(
            PythonLaunchDescriptionSource(segment),
            launch_arguments={
                "camera": LaunchConfiguration(f"{namespace}_camera"),
                "namespace": namespace,
                "model": LaunchConfiguration("model"),
                "weights": LaunchConfiguration("weights"),
                "backend": LaunchConfiguration("backend"),
                "params_file": LaunchConfiguration("params_file"),
                "use_rviz": "false",
            }.items(),
        ))
    return LaunchDescription(actions)
