"""The bench's and the recorder's ROS side: DDS kept on this machine, an rclpy context of its own.

rclpy is imported when a session starts, so the offline bench runs without ROS.
"""

import os
import threading
from typing import Any, Dict, List, Optional

from .. import dds
from ..contract import RELIABLE
from ..errors import RailSegError
from ..qos import offered_reliability, qos_profile

LOCAL_DDS = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1"}


def ensure_local_dds(env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Keep DDS on this machine unless the user chose otherwise: set the LOCALHOST defaults where unset."""
    target = os.environ if env is None else env
    for key, value in LOCAL_DDS.items():
        target.setdefault(key, value)
    return dict(target)


class RosSession:
    """An rclpy context of its own, one node, and an executor spinning it in a background thread.

    Callbacks run in that thread; the main thread publishes and measures. Python's own SIGINT
    handling is kept (rclpy installs no signal handler), so Ctrl-C is a KeyboardInterrupt.
    """

    def __init__(self, name: str) -> None:
        ensure_local_dds()
        dds.apply_profile()  # before rclpy.init: the bench publishes camera-sized frames; a node it starts inherits it
        try:
            import rclpy
            from rclpy.context import Context
            from rclpy.executors import SingleThreadedExecutor
        except ImportError as exc:
            raise RailSegError(f"the live bench and the recorder need ROS 2 (rclpy): {exc}") from None
        self.rclpy = rclpy
        self.context = Context()
        try:
            from rclpy.signals import SignalHandlerOptions
            rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        except (ImportError, TypeError):  # older rclpy without signal handler options
            rclpy.init(context=self.context)
        try:
            self.node = rclpy.create_node(name, context=self.context)
            self.executor = SingleThreadedExecutor(context=self.context)
            self.executor.add_node(self.node)
        except BaseException:
            rclpy.try_shutdown(context=self.context)
            raise
        self._stop = threading.Event()
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._spin, name="rail_seg_bench_spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            while not self._stop.is_set() and self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except Exception as exc:  # a failing callback: reported to the main thread by check()
            self.error = exc

    def check(self) -> None:
        """Raise the error a callback raised in the spin thread, if any."""
        if self.error is not None:
            raise RailSegError(f"receiving failed: {type(self.error).__name__}: {self.error}")

    def publisher_qos(self, topic: str) -> List[Any]:
        """QoS profiles of the publishers of ``topic`` (graph information, no spinning needed)."""
        return [info.qos_profile for info in self.node.get_publishers_info_by_topic(topic)]

    def offered_reliability(self, topic: str) -> str:
        """reliable unless a publisher of ``topic`` offers best effort only (reliable when there is none yet)."""
        profiles = self.publisher_qos(topic)
        return offered_reliability(profiles) if profiles else RELIABLE

    def subscribe(self, msgtype: Any, topic: str, callback: Any, depth: int) -> Any:
        """A keep-last ``depth`` subscription whose reliability matches the publishers of ``topic``."""
        qos = qos_profile(self.offered_reliability(topic), depth)
        return self.node.create_subscription(msgtype, topic, callback, qos)

    def close(self) -> None:
        """Stop spinning and shut the context down (a second call does nothing)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5.0)
        try:
            self.executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
        finally:
            self.rclpy.try_shutdown(context=self.context)
