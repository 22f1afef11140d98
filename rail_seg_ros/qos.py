"""The QoS profiles of the node and of the bench's and recorder's endpoints (rclpy is imported on use)."""

from typing import Any, Sequence

from .contract import BEST_EFFORT, RELIABILITIES, RELIABLE


def qos_profile(reliability: str, depth: int) -> Any:
    """Keep last ``depth``, volatile; best_effort is the sensor-data profile (qos_profile_sensor_data)."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    if reliability not in RELIABILITIES:
        raise ValueError(f"reliability {reliability!r} is not one of {', '.join(RELIABILITIES)}")
    policy = ReliabilityPolicy.BEST_EFFORT if reliability == BEST_EFFORT else ReliabilityPolicy.RELIABLE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy,
                      durability=DurabilityPolicy.VOLATILE)


def offered_reliability(profiles: Sequence[Any]) -> str:
    """reliable when there are publishers and every one offers reliable, else best_effort."""
    from rclpy.qos import ReliabilityPolicy

    reliable = bool(profiles) and all(p.reliability == ReliabilityPolicy.RELIABLE for p in profiles)
    return RELIABLE if reliable else BEST_EFFORT
