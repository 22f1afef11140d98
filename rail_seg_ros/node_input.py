"""The node's input side beyond the callback: message-lost counting and the no-input hint.

Frames can vanish before the node's callback in two ways: replaced in a too-shallow reader history
(``input_qos.depth`` deeper than 1 lets every arriving frame reach the callback, which still only
replaces the newest-frame slot), or lost in transport, which the RMW reports through the message-lost
event where it offers one (rmw_fastrtps does; the count is then in /diagnostics as ``frames_lost``). Where rclpy
passes a MessageInfo with the publisher's gid (Kilted), the gaps in each publisher's sequence numbers count
both (node_state.SequenceGaps), so frames replaced in the history under a burst are counted too.
When the input topic has publishers but nothing arrives, :func:`no_input_hint` names the likely cause.
"""
# The Jetson target runs Python 3.8: typing.Callable/List/Optional on purpose.

import os
from typing import Any, Callable, Mapping, Optional

from .contract import BEST_EFFORT, RELIABLE
from .dds import Profile, package_profile, without_profiles


def message_info_supported() -> bool:
    """Whether rclpy passes a MessageInfo to a subscription callback of two parameters (Iron and later; not Humble)."""
    from rclpy.subscription import Subscription

    return hasattr(Subscription, "CallbackType")


def sequence_gaps_counted() -> bool:
    """Whether rclpy's MessageInfo carries the publisher's gid besides its sequence number (Kilted; Jazzy's has the
    sequence number only), so gaps can be counted per publisher."""
    from rclpy import subscription

    return "publisher_gid" in getattr(getattr(subscription, "MessageInfo", None), "__annotations__", {})


def subscribe(node: Any, msg_type: Any, topic: str, callback: Callable[[Any, Optional[Mapping[str, Any]]], None],
              qos: Any, on_lost: Callable[[int], None]) -> Any:
    """``node.create_subscription`` calling ``callback(msg, message_info)`` (None where rclpy gives none), and
    reporting lost messages to ``on_lost(count)`` where the RMW can."""
    try:
        from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError
    except ImportError:  # Humble
        from rclpy.qos_event import SubscriptionEventCallbacks, UnsupportedEventTypeError

    if message_info_supported():
        def receive(msg: Any, info: Mapping[str, Any]) -> None:  # two parameters: rclpy adds the MessageInfo
            callback(msg, info)
    else:
        def receive(msg: Any) -> None:  # type: ignore[misc]
            callback(msg, None)
    events = SubscriptionEventCallbacks(message_lost=lambda info: on_lost(int(info.total_count_change)))
    try:
        return node.create_subscription(msg_type, topic, receive, qos, event_callbacks=events)
    except UnsupportedEventTypeError:  # this RMW does not report lost messages
        return node.create_subscription(msg_type, topic, receive, qos)


def no_input_hint(topic: str, silent_s: float, publishers: int, offered: str, requested: str,
                  lost: int, profile: Profile) -> str:
    """Why nothing arrives on ``topic`` although ``publishers`` offer it, and what to do ('' without publishers).

    ``offered``: what the publishers offer (qos.offered_reliability); ``requested``: the node's input_qos.reliability;
    ``lost``: frames the RMW reported lost; ``profile``: this process's DDS profile (named when it is the user's).
    """
    if publishers <= 0:
        return ""
    head = f"no input on {topic} for {silent_s:.1f} s although {publishers} publisher(s) offer it"
    if requested == RELIABLE and offered == BEST_EFFORT:
        return (f"{head}: a best-effort publisher never delivers to this reliable subscription; "
                f"set input_qos.reliability: best_effort")
    shipped = package_profile(without_profiles(dict(os.environ)))
    export = f"{shipped.variable}={shipped.value}" if shipped.variable else "the package's DDS profile (config/dds)"
    lost_text = f" ({lost} frame(s) reported lost)" if lost else ""
    own = f"; this node uses {profile.note}" if profile.source == "user" else ""
    return (f"{head}{lost_text}: if it is publishing, likely large best-effort images are lost between processes: the "
            f"publisher's Fast DDS shared-memory segment is too small (512 KiB by default); start the camera "
            f"driver with {export} (the publisher's profile decides; `rail-seg doctor` checks this host){own}")


class InputWatch:
    """The no-input hint of one activation: given once publishers have been there for input_timeout, logged once."""

    def __init__(self) -> None:
        self.publishers_since: Optional[float] = None
        self.logged = False

    def hint(self, node: Any, topic: str, silent_s: float, timeout_s: float, requested: str, lost: int,
             profile: Profile, now: float) -> str:
        """:func:`no_input_hint` for ``topic`` as ``node`` sees the graph now ('' while publishers are new)."""
        from .qos import offered_reliability

        infos = node.get_publishers_info_by_topic(topic)
        if not infos:
            self.publishers_since = None
            return ""
        if self.publishers_since is None:
            self.publishers_since = now
        if now - self.publishers_since < timeout_s:  # a publisher that just appeared may not have sent yet
            return ""
        return no_input_hint(topic, min(silent_s, now - self.publishers_since), len(infos),
                             offered_reliability([i.qos_profile for i in infos]), requested, lost, profile)

    def log_once(self, text: str) -> bool:
        """True the first time there is a hint to log."""
        if not text or self.logged:
            return False
        self.logged = True
        return True


def log_dds_profile(logger: Any, profile: Profile) -> None:
    """Say which DDS profile the node's process runs with (a warning when none)."""
    from rclpy.logging import LoggingSeverity

    logger.log(f"DDS profile: {profile.note}", LoggingSeverity.INFO if profile.in_effect else LoggingSeverity.WARN)
