"""The doctor's live DDS probe: a child process publishes camera-sized frames, the parent counts what arrives.

    python -m rail_seg_ros.dds_probe --topic /rail_seg_doctor_1 --reliability best_effort --frames 20

The child waits until the parent's subscription has matched, publishes ``--frames`` frames (1920x1080
rgb8 unless told otherwise) at ``--rate`` Hz, each numbered in its frame_id, then lingers so the last
ones can arrive. Its environment (the parent sets it) decides the DDS profile; the profile of the
publishing process is the one that matters for large samples.
"""
# The Jetson target runs Python 3.8: typing.List/Optional on purpose.

import argparse
import sys
import time
from typing import Any, List, Optional

from .contract import RELIABILITIES

FRAME_ID_PREFIX = "rail_seg_probe_"
MATCH_TIMEOUT_S = 20.0
LINGER_S = 0.7
READY, GO, DONE = "ready", "go", "done"  # the gated protocol on stdin/stdout


def probe_image(width: int, height: int, encoding: str = "rgb8") -> Any:
    """One sensor_msgs/Image of ``width`` x ``height`` of ``encoding``, filled by the package's codec."""
    import numpy as np
    from sensor_msgs.msg import Image

    from .image_codec import fill_image_msg, rgb8_to

    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return fill_image_msg(Image(), rgb8_to(rgb, encoding), encoding)


def frame_number(frame_id: str) -> Optional[int]:
    """The probe frame's number from its frame_id, None for anything else."""
    if not frame_id.startswith(FRAME_ID_PREFIX):
        return None
    tail = frame_id[len(FRAME_ID_PREFIX):]
    return int(tail) if tail.isdigit() else None


def publish(topic: str, reliability: str, frames: int, rate: float, width: int, height: int,
            gated: bool = False, encoding: str = "rgb8", malformed: int = 0) -> int:
    """Publish the frames once a subscriber matched (and, ``gated``, ``go`` came on stdin); 3: no match.

    ``malformed``: that many frames first whose step does not fit their width (a broken driver's)."""
    import rclpy

    from .qos import qos_profile

    rclpy.init()
    node = rclpy.create_node(f"rail_seg_probe_{reliability}")
    try:
        publisher = node.create_publisher(type(probe_image(2, 2)), topic, qos_profile(reliability, max(frames, 1)))
        msg = probe_image(width, height, encoding)
        deadline = time.monotonic() + MATCH_TIMEOUT_S
        while publisher.get_subscription_count() == 0:
            if time.monotonic() > deadline:
                print(f"dds_probe: no subscriber matched {topic} in {MATCH_TIMEOUT_S:.0f} s", file=sys.stderr)
                return 3
            rclpy.spin_once(node, timeout_sec=0.05)
        time.sleep(0.5)  # let the reader's side of the match settle too
        if gated:  # the parent starts every probe at once and lets them publish one after another
            print(READY, flush=True)
            if sys.stdin.readline().strip() != GO:
                return 0
        good_step = msg.step
        for number in range(malformed + frames):
            msg.step = good_step - 1 if number < malformed else good_step
            msg.header.frame_id = f"{FRAME_ID_PREFIX}{number}"
            msg.header.stamp = node.get_clock().now().to_msg()
            publisher.publish(msg)
            time.sleep(1.0 / rate)
        time.sleep(LINGER_S)  # a reliable writer may still be resending
        if gated:
            print(DONE, flush=True)
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rail_seg_ros.dds_probe", description=__doc__.splitlines()[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--reliability", choices=RELIABILITIES, required=True)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--encoding", choices=("rgb8", "bgr8", "mono8", "yuv422"), default="rgb8")
    parser.add_argument("--malformed", type=int, default=0, help="frames with a wrong step, sent first")
    parser.add_argument("--gated", action="store_true",
                        help=f"print {READY!r} once matched, publish after {GO!r} on stdin, then print {DONE!r}")
    args = parser.parse_args(argv)
    return publish(args.topic, args.reliability, args.frames, args.rate, args.width, args.height, args.gated,
                   args.encoding, args.malformed)


if __name__ == "__main__":
    sys.exit(main())
