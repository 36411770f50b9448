"""The controller's core (no rclpy, no torch): state intake, watchdog, safety filter, model swap.

``mbrl_control.ros.controller_node`` wires this to topics; tests drive it directly too.
"""
