"""The engine of ``rail-seg record``: a running node's outputs into a new bag, and reading them back."""

import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from tqdm import tqdm

from ..bag import IMAGE_TYPE, RecorderThread
from ..contract import NODE_NAME, RECORDED_OUTPUTS, join_name
from ..errors import RailSegError
from .session import RosSession


def resolve_topics(namespace: str, node_name: str, topics: Sequence[str]) -> List[str]:
    """Topic names relative to the node (``labels`` -> ``NS/NODE/labels``) unless they start with '/'."""
    return [t if t.startswith("/") else f"{join_name(namespace, node_name)}/{t}" for t in topics]


def _wait_for_publishers(session: RosSession, topics: List[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not any(session.publisher_qos(t) for t in topics):
        if time.monotonic() > deadline:
            seen = sorted(name for name, types in session.node.get_topic_names_and_types() if IMAGE_TYPE in types)
            raise RailSegError(
                f"no publisher on {', '.join(topics)} within {timeout:g} s (image topics seen: "
                f"{', '.join(seen) or 'none'}; ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')})")
        time.sleep(0.1)


def record_outputs(out: Any, namespace: str = "/", node_name: str = NODE_NAME,
                   topics: Sequence[str] = RECORDED_OUTPUTS, duration: Optional[float] = None,
                   storage: str = "sqlite3", wait_timeout: float = 30.0, progress: bool = True) -> Dict[str, int]:
    """Record a running node's outputs into a new bag at ``out`` until Ctrl-C or ``duration`` seconds.

    Topic names are relative to the node (``labels`` -> ``NS/NODE/labels``) unless they start with '/'.
    Log time is the receive time (wall clock), as ros2 bag record does. Returns messages per topic.
    Nothing is written when no message arrived (RailSegError).
    """
    from sensor_msgs.msg import Image

    resolved = resolve_topics(namespace, node_name, topics)
    counts: Dict[str, int] = {t: 0 for t in resolved}
    session = RosSession(f"rail_seg_record_{os.getpid()}")
    recorder: Optional[RecorderThread] = None
    bar = None
    try:
        _wait_for_publishers(session, resolved, wait_timeout)
        recorder = RecorderThread(out, storage, resolved)
        bar = tqdm(unit="msg", desc=f"recording {Path(out).name}", disable=not progress)

        def callback(topic: str) -> Callable[[Any], None]:
            def on_message(msg: Any) -> None:
                recorder.add(topic, msg, time.time_ns())
                counts[topic] += 1
            return on_message

        for topic in resolved:
            session.subscribe(Image, topic, callback(topic), 50)
        end = None if duration is None else time.monotonic() + duration
        shown = 0
        try:
            while end is None or time.monotonic() < end:
                session.check()
                recorder.check()
                time.sleep(0.1)
                total = sum(counts.values())
                bar.update(total - shown)
                shown = total
        except KeyboardInterrupt:
            pass
        session.close()
        written = recorder.finish(keep=True)
        recorder.check()
        if not written:
            raise RailSegError(f"no messages received on {', '.join(resolved)}; nothing written")
    finally:
        if bar is not None:
            bar.close()
        if recorder is not None:
            recorder.finish(keep=False)
        session.close()
    return counts
