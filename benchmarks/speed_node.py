"""The node part of benchmarks/speed.py: segmentation_node's own stage timings for camera-sized frames.

The node runs in this process with the card given (onnxruntime on the CPU, its default head), frames are
published to it one at a time over DDS on loopback (the next once the labels came back, so none is
dropped), and its three image outputs are subscribed to, so ``publish`` includes handing them to DDS
with a reader matched. The figures are the medians of the per-second stage means the node publishes on
/diagnostics (``<stage>_ms``). Input and output QoS are reliable so no frame is lost on the way.
"""

import threading
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from rail_seg_ros.bench.session import ensure_local_dds
from rail_seg_ros.contract import NODE_STAGES, RECORDED_OUTPUTS, RELIABLE, output_topics, stage_key
from rail_seg_ros.image_codec import fill_image_msg
from rail_seg_ros.model_card import ModelCard

NAMESPACE = "rail_seg_speed"


def node_stage_times(card: ModelCard, cache: Path, rgb: np.ndarray, count: int) -> Dict[str, float]:
    ensure_local_dds()
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from rail_seg_ros.node import SegmentationNode
    from rail_seg_ros.qos import qos_profile

    card_path = cache / f"{card.name}-node.yaml"
    card_path.write_text(card.to_yaml())
    overrides = [Parameter("model", value=str(card_path)), Parameter("backend", value="onnxruntime"),
                 Parameter("device", value="cpu"), Parameter("engine_cache_dir", value=str(cache)),
                 Parameter("input_qos.reliability", value=RELIABLE), Parameter("output_qos.reliability", value=RELIABLE)]
    rclpy.init()
    node = SegmentationNode(namespace=NAMESPACE, parameter_overrides=overrides)
    driver = rclpy.create_node("rail_seg_speed_driver", namespace=NAMESPACE)
    executor = MultiThreadedExecutor(num_threads=2)
    stages: Dict[str, List[float]] = {stage: [] for stage in NODE_STAGES}
    got = threading.Event()

    def on_diagnostics(msg) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            for stage in NODE_STAGES:
                value = float(values.get(stage_key(stage), "nan"))
                if not np.isnan(value):
                    stages[stage].append(value)

    qos = qos_profile(RELIABLE, 5)
    publisher = driver.create_publisher(Image, "image", qos)
    topics = output_topics(NAMESPACE)
    subscriptions = [driver.create_subscription(Image, topics[name], (lambda m: got.set()) if name == "labels"
                                                else (lambda m: None), qos) for name in RECORDED_OUTPUTS]
    subscriptions.append(driver.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10))
    for each in (node, driver):
        executor.add_node(each)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        time.sleep(1.0)  # discovery
        for _ in range(count):
            got.clear()
            msg = fill_image_msg(Image(), rgb, "rgb8")
            msg.header.stamp = driver.get_clock().now().to_msg()
            publisher.publish(msg)
            got.wait(timeout=30.0)
        time.sleep(1.5)  # the last second's means
    finally:
        executor.shutdown()
        node.destroy_node()
        driver.destroy_node()
        rclpy.try_shutdown()
    result = {stage: float(np.median(v)) for stage, v in stages.items() if v}
    print(f"\nnode stage times, {rgb.shape[1]}x{rgb.shape[0]} rgb8 frames, {card.name} on onnxruntime "
          f"(median of the per-second means on /diagnostics, ms): "
          + ", ".join(f"{stage} {ms:.1f}" for stage, ms in result.items()), flush=True)
    return result
