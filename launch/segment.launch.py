"""Start rail_seg_ros segmentation_node on one camera (and RViz2 showing it, if asked).

    ros2 launch rail_seg_ros segment.launch.py camera:=/front/image_raw namespace:=front \\
        model:=squeezenas_lat_small_cityscapes backend:=tensorrt use_rviz:=true

Arguments
    camera       the camera's sensor_msgs/Image topic. The node's ``image`` input is remapped to it,
                 ``image/compressed`` to CAMERA/compressed and ``camera_info`` to the camera_info next
                 to it (/front/image_raw -> /front/camera_info), as image_transport names them.
    namespace    the node's namespace: outputs are /NAMESPACE/segmentation_node/{labels,color,overlay,...}
    model        model card name or path, or an architecture name with weights ("" = from params_file)
    weights      checkpoint for the model ("" = from params_file / the card's own)
    backend      auto | tensorrt | onnxruntime | torch ("" = from params_file)
    params_file  parameters file (default: the package's config/segment.yaml)
    use_rviz     true: also start RViz2 with config/rail_seg.rviz, pointed at this camera and namespace

One node per camera: include this file once per camera with its own namespace and camera topic,
as multi_camera.launch.py does:

    ros2 launch rail_seg_ros multi_camera.launch.py front_camera:=/front/image_raw rear_camera:=/rear/image_raw

or start it twice by hand with namespace:=front camera:=... and namespace:=rear camera:=.... Node
names stay segmentation_node; the namespaces keep their topics and /diagnostics entries apart
("front/segmentation_node: segmentation"). A ``/**:`` params file applies to every node.
"""

import os
import tempfile

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from rail_seg_ros.contract import EXECUTABLE, INPUT_CAMERA_INFO, INPUT_COMPRESSED, INPUT_IMAGE, NODE_NAME

PACKAGE = "rail_seg_ros"


def _rviz_config(share: str, namespace: str, camera: str) -> str:
    """The package's RViz config with its topics moved to this namespace and camera."""
    with open(os.path.join(share, "config", "rail_seg.rviz")) as source:
        text = source.read()
    prefix = "/" + namespace.strip("/") if namespace.strip("/") else ""
    node = f"/{NODE_NAME}/"
    text = text.replace(node, prefix + node).replace("/camera/image_raw", camera)
    handle, path = tempfile.mkstemp(prefix="rail_seg_", suffix=".rviz")
    with os.fdopen(handle, "w") as target:
        target.write(text)
    return path


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
    camera_dir = camera.rsplit("/", 1)[0] if "/" in camera.strip("/") else ""
    remappings = [
        (INPUT_IMAGE, camera),
        (INPUT_COMPRESSED, camera + "/compressed"),
        (INPUT_CAMERA_INFO, camera_dir + "/camera_info" if camera_dir else "camera_info"),
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
    if LaunchConfiguration("use_rviz").perform(context).lower() not in ("true", "1"):
        return [node]
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        namespace=namespace,
        arguments=["-d", _rviz_config(share, namespace, camera)],
        output="screen",
    )
    return [node, rviz]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
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
