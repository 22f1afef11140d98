"""ros_names: rcl's name rules without ROS, checked against rclpy's validators where rclpy imports."""

import pytest

from rail_seg_ros.ros_names import namespace_problem, node_name_problem, remap_problems, topic_name_problem

TOPICS = ["image", "/image", "~/x", "~", "/", "", "a/", "9a", "/a/9b", "a b", "bad%name", "a/{node}/x", "{node}",
          "a~b", "a-b", "_a", "a1/b_2", "/front/image_raw", "x{ns}", "a/~/b", "\u00e4"]
NAMESPACES = ["/", "/front", "/a/", "/9", "/a b", "//a", "/a/b_c", "/{x}"]
NODE_NAMES = ["seg", "9seg", "se g", "_s", "s-1", ""]


def _accepts(validate, name: str) -> bool:
    try:
        validate(name)
    except Exception:  # rclpy's InvalidTopicNameException and friends
        return False
    return True


@pytest.mark.parametrize("name", TOPICS)
def test_topic_names_as_rcl_judges_them(name):
    validate = pytest.importorskip("rclpy.validate_topic_name").validate_topic_name
    assert (topic_name_problem(name) is None) == _accepts(validate, name)


@pytest.mark.parametrize("name", NAMESPACES)
def test_namespaces_as_rcl_judges_them(name):
    validate = pytest.importorskip("rclpy.validate_namespace").validate_namespace
    assert (namespace_problem(name) is None) == _accepts(validate, name)


@pytest.mark.parametrize("name", NODE_NAMES)
def test_node_names_as_rcl_judges_them(name):
    validate = pytest.importorskip("rclpy.validate_node_name").validate_node_name
    assert (node_name_problem(name) is None) == _accepts(validate, name)


def test_stricter_than_rcls_relative_check_where_expansion_would_fail():
    assert topic_name_problem("a//b") == "holds '//'"


def test_remapping_rules():
    assert remap_problems(["node", "--ros-args", "-r", "image:=/front/image_raw", "-r", "__ns:=/front",
                           "-r", "__node:=seg", "-p", "x:=1", "-r", "__log_level:=debug"]) == []
    problems = remap_problems(["node", "--ros-args", "-r", "image:=bad name", "--remap", "__ns:=/9x",
                               "-r", "__node:=a-b", "-r", "noequals", "--", "-r", "image:=not checked here"])
    assert len(problems) == 4
    assert problems[0].startswith("remapping 'image:=bad name': 'bad name' is not a valid ROS name")
    assert "'/9x'" in problems[1] and "'a-b'" in problems[2] and "is not FROM:=TO" in problems[3]
    assert remap_problems(["node", "-r", "image:=bad name"]) == []  # not ROS arguments
