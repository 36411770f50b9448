"""Transition store (append-only, crash-safe episodes) and rosbag2 MCAP import."""
