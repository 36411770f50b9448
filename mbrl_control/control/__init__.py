"""The controller's core (no rclpy, no torch): state intake, watchdog, safety filter, model swap;
and the limit guard of recordings' exploration noise (:mod:`.excitation`).

``mbrl_control.ros.controller_node`` wires this to topics; tests drive it directly too.
"""
