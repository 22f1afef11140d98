"""ROS 2 names (topics, namespaces, node names) checked the way rcl checks them, without ROS.

rcl refuses a bad name deep inside ``rclpy.init`` or ``create_subscription`` with a traceback; the CLI and the
node check first and say which name is wrong. Rules: rcl's validate_topic_name / validate_namespace /
validate_node_name (tokens of letters, digits and underscores not starting with a digit, separated by
single slashes, no trailing slash; ``~`` only first; ``{substitutions}`` allowed in topics).
"""
# The Jetson target runs Python 3.8: typing.List/Optional on purpose.

import re
from typing import List, Optional, Sequence

_TOKEN = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\})(?:[A-Za-z0-9_]|\{[A-Za-z_][A-Za-z0-9_]*\})*$")
_NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _tokens_problem(body: str) -> Optional[str]:
    if body.endswith("/"):
        return "ends with '/'"
    if "//" in body:
        return "holds '//'"
    for token in body.split("/"):
        if not _TOKEN.match(token):
            return (f"has a part {token!r} that is not letters, digits and underscores or starts with a digit"
                    if token else "has an empty part")
    return None


def topic_name_problem(name: str) -> Optional[str]:
    """Why ``name`` is not a valid ROS topic name (relative, absolute or private ``~/x``); None when it is."""
    if not isinstance(name, str) or not name:
        return "is empty"
    body = name
    if body.startswith("~"):
        if body == "~":
            return None
        if not body.startswith("~/"):
            return "has '~' not followed by '/'"
        body = body[2:]
    elif body.startswith("/"):
        body = body[1:]
    if "~" in body:
        return "has '~' after the start"
    return _tokens_problem(body) if body else "names no topic"


def namespace_problem(namespace: str) -> Optional[str]:
    """Why ``namespace`` is not a valid ROS namespace ('/' and '/front/left' are; a relative one is taken as absolute)."""
    if not isinstance(namespace, str) or not namespace:
        return "is empty"
    body = namespace[1:] if namespace.startswith("/") else namespace
    if not body:
        return None
    if "{" in body or "~" in body:
        return "holds '{' or '~' (a namespace is letters, digits, underscores and '/')"
    return _tokens_problem(body)


def node_name_problem(name: str) -> Optional[str]:
    """Why ``name`` is not a valid ROS node name; None when it is."""
    if not isinstance(name, str) or not _NODE_NAME.match(name):
        return "is not letters, digits and underscores or starts with a digit"
    return None


def check_topic(name: str, what: str) -> Optional[str]:
    """One line naming ``what`` when ``name`` is not a valid topic name, else None."""
    problem = topic_name_problem(name)
    return f"{what} {name!r} is not a valid ROS topic name: it {problem}" if problem else None


def check_namespace(namespace: str, what: str) -> Optional[str]:
    """One line naming ``what`` when ``namespace`` is not a valid ROS namespace, else None."""
    problem = namespace_problem(namespace)
    return f"{what} {namespace!r} is not a valid ROS namespace: it {problem}" if problem else None


def check_node_name(name: str, what: str) -> Optional[str]:
    """One line naming ``what`` when ``name`` is not a valid ROS node name, else None."""
    problem = node_name_problem(name)
    return f"{what} {name!r} is not a valid ROS node name: it {problem}" if problem else None


def remap_problems(args: Sequence[str]) -> List[str]:
    """What is wrong with the remapping rules (``-r from:=to`` after ``--ros-args``) in a node's arguments."""
    problems: List[str] = []
    in_ros_args = False
    items = list(args)
    for index, item in enumerate(items):
        if item == "--ros-args":
            in_ros_args = True
        elif item == "--":
            in_ros_args = False
        elif in_ros_args and item in ("-r", "--remap") and index + 1 < len(items):
            problem = _rule_problem(items[index + 1])
            if problem:
                problems.append(problem)
    return problems


def _rule_problem(rule: str) -> Optional[str]:
    source, sep, target = rule.partition(":=")
    if not sep:
        return f"remapping {rule!r} is not FROM:=TO"
    source = source.split(":", 1)[1] if ":" in source else source  # a node-name prefix: "node:from:=to"
    if source == "__ns":
        problem = namespace_problem(target)
    elif source in ("__node", "__name"):
        problem = node_name_problem(target)
    elif source.startswith("__"):
        return None  # other special rules (__log_level ...) are rcl's to check
    else:
        problem = topic_name_problem(target)
        if problem is None and "*" not in source:
            bad_source = topic_name_problem(source)
            if bad_source:
                return f"remapping {rule!r}: {source!r} is not a valid ROS name: it {bad_source}"
    return f"remapping {rule!r}: {target!r} is not a valid ROS name: it {problem}" if problem else None
