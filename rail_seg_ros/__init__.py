"""rail_seg_ros: semantic segmentation of rail vehicle camera frames, in ROS 2 and offline.

The core (labels, nets, model cards, checkpoints, image codec, pipeline, metrics) needs no ROS;
the node and the live benchmark are the only parts that import rclpy.
"""

__version__ = "0.1.0"
