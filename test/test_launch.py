"""The launch files and the RViz config: checked as source everywhere, run where launch_ros is installed."""

import ast
import importlib.util
import py_compile
from pathlib import Path
from typing import List, Set

import pytest
import yaml

from rail_seg_ros.contract import OUTPUT_COLOR, OUTPUT_OVERLAY, output_topics

REPO = Path(__file__).resolve().parent.parent
SEGMENT = REPO / "launch" / "segment.launch.py"
MULTI = REPO / "launch" / "multi_camera.launch.py"
RVIZ = REPO / "config" / "rail_seg.rviz"
SEGMENT_ARGUMENTS = {"camera", "namespace", "model", "backend", "params_file", "use_rviz"}


def declared_arguments(path: Path) -> Set[str]:
    """First arguments of every DeclareLaunchArgument(...) call whose name is a string literal."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == \
                "DeclareLaunchArgument" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
            elif isinstance(first, ast.JoinedStr):  # f"{namespace}_camera"
                names.add("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in first.values))
    return names


@pytest.mark.parametrize("path", [SEGMENT, MULTI], ids=lambda p: p.name)
def test_launch_files_compile(path: Path, tmp_path: Path) -> None:
    py_compile.compile(str(path), cfile=str(tmp_path / "out.pyc"), doraise=True)
    tree = ast.parse(path.read_text())
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert "generate_launch_description" in functions


def test_segment_launch_declares_its_arguments_and_documents_multi_camera() -> None:
    assert SEGMENT_ARGUMENTS <= declared_arguments(SEGMENT)
    doc = ast.get_docstring(ast.parse(SEGMENT.read_text()))
    assert "multi_camera.launch.py" in doc and "namespace" in doc
    for argument in SEGMENT_ARGUMENTS:
        assert argument in doc, argument


def test_multi_camera_launch_includes_segment_launch_per_camera() -> None:
    source = MULTI.read_text()
    assert "segment.launch.py" in source and "IncludeLaunchDescription" in source
    assert {"{}_camera", "model", "backend", "params_file"} <= declared_arguments(MULTI)


def rviz_image_displays() -> List[dict]:
    config = yaml.safe_load(RVIZ.read_text())
    displays = config["Visualization Manager"]["Displays"]
    return [d for d in displays if d["Class"] == "rviz_default_plugins/Image"]


def test_rviz_config_shows_input_overlay_and_colour() -> None:
    topics = {d["Topic"]["Value"] for d in rviz_image_displays()}
    outputs = output_topics("/")
    assert topics == {"/camera/image_raw", outputs[OUTPUT_OVERLAY], outputs[OUTPUT_COLOR]}
    for display in rviz_image_displays():
        assert display["Enabled"] is True
        assert display["Topic"]["Reliability Policy"] in ("Reliable", "Best Effort")


def test_rviz_config_shows_the_track_ahead_path_and_markers() -> None:
    """The ego path and the markers (rails, envelope, obstacles) in 3D; the overlay shows them in the image."""
    from rail_seg_ros.contract import NODE_NAME, TRACK_MARKERS, TRACK_PATH, join_name

    displays = yaml.safe_load(RVIZ.read_text())["Visualization Manager"]["Displays"]
    shown = {d["Class"]: d["Topic"]["Value"] for d in displays if d["Class"] != "rviz_default_plugins/Image"}
    assert shown == {"rviz_default_plugins/Path": join_name(NODE_NAME, TRACK_PATH),
                     "rviz_default_plugins/MarkerArray": join_name(NODE_NAME, TRACK_MARKERS)}


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def remaps(node) -> dict:
    """A launch_ros Node's remappings as plain strings (launch keeps them as substitutions)."""
    def text(part) -> str:
        return part if isinstance(part, str) else "".join(getattr(sub, "text", "") for sub in part)

    return {text(src): text(dst) for src, dst in node._Node__remappings}


def _segment_setup(module, monkeypatch, tmp_path: Path, **arguments: str):
    """The actions the segment launch file's OpaqueFunction gives in a context with ``arguments``."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.launch_context import LaunchContext

    description = module.generate_launch_description()
    declared = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert SEGMENT_ARGUMENTS <= declared
    share = tmp_path / "share"  # a fake share directory holding the package's config
    (share / "config").mkdir(parents=True, exist_ok=True)
    (share / "config" / "rail_seg.rviz").write_text(RVIZ.read_text())
    (share / "config" / "segment.yaml").write_text((REPO / "config" / "segment.yaml").read_text())
    monkeypatch.setattr(module, "get_package_share_directory", lambda package: str(share))
    context = LaunchContext()
    values = {"camera": "/front/image_raw", "namespace": "front", "model": "", "weights": "", "backend": "",
              "params_file": "", "use_rviz": "false"}
    values.update(arguments)
    context.launch_configurations.update(values)
    setup = next(e for e in description.entities if isinstance(e, OpaqueFunction))
    return setup.execute(context)


def test_segment_launch_description_with_launch_ros(monkeypatch, tmp_path: Path) -> None:
    pytest.importorskip("launch_ros", reason="launch_ros is not installed (no ROS 2 desktop here)")
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("rail_seg_*.rviz"))
    module = load_module(SEGMENT)
    monkeypatch.setattr(module, "_rviz_installed", lambda: True)
    node, rviz = _segment_setup(module, monkeypatch, tmp_path, use_rviz="True")  # launch's own boolean parsing
    node_remaps = remaps(node)
    assert node_remaps["image"] == "/front/image_raw" and node_remaps["camera_info"] == "/front/camera_info"
    rviz_remaps = remaps(rviz)
    root, front = output_topics("/"), output_topics("front")
    assert rviz_remaps[root[OUTPUT_OVERLAY]] == front[OUTPUT_OVERLAY]
    assert rviz_remaps["/camera/image_raw"] == "/front/image_raw"
    rviz_args = [a if isinstance(a, str) else a[0].text for a in rviz._Node__arguments]
    assert rviz_args[-1].endswith("rail_seg.rviz") and str(tmp_path) in rviz_args[-1]  # the shipped file itself
    assert set(Path(tempfile.gettempdir()).glob("rail_seg_*.rviz")) == before  # no temporary copy


def test_segment_launch_camera_info_rule_booleans_and_missing_rviz(monkeypatch, tmp_path: Path) -> None:
    pytest.importorskip("launch_ros", reason="launch_ros is not installed (no ROS 2 desktop here)")
    from launch.actions import LogInfo
    from launch.conditions import InvalidConditionExpressionError

    module = load_module(SEGMENT)
    assert module.camera_info_topic("/image_raw") == "/camera_info"
    assert module.camera_info_topic("/front/image_raw") == "/front/camera_info"
    assert module.camera_info_topic("image_raw") == "camera_info"
    monkeypatch.setattr(module, "_rviz_installed", lambda: False)
    actions = _segment_setup(module, monkeypatch, tmp_path, use_rviz="1")
    assert [type(a).__name__ for a in actions] == ["LogInfo", "Node"]  # RViz skipped with a warning, node alone
    assert isinstance(actions[0], LogInfo)
    actions = _segment_setup(module, monkeypatch, tmp_path, use_rviz="FALSE", camera="/image_raw")
    assert len(actions) == 1 and remaps(actions[0])["camera_info"] == "/camera_info"
    with pytest.raises(InvalidConditionExpressionError):
        _segment_setup(module, monkeypatch, tmp_path, use_rviz="yes please")


def test_multi_camera_launch_description_with_launch_ros(monkeypatch, tmp_path: Path) -> None:
    pytest.importorskip("launch_ros", reason="launch_ros is not installed (no ROS 2 desktop here)")
    from launch.actions import IncludeLaunchDescription

    module = load_module(MULTI)
    monkeypatch.setattr(module, "get_package_share_directory", lambda package: str(REPO))
    description = module.generate_launch_description()
    includes = [e for e in description.entities if isinstance(e, IncludeLaunchDescription)]
    assert len(includes) == 2


@pytest.mark.parametrize("path", [SEGMENT, MULTI], ids=lambda p: p.name)
def test_what_launch_files_import_from_the_package_exists(path: Path) -> None:
    """The names are the node's contract; checked here too, where launch_ros is absent and the files do not run."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rail_seg_ros"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module}.{alias.name}"
