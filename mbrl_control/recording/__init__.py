"""Seeing what ran (docs/recording.md).

- :mod:`.metrics`: live training metrics, TensorBoard event files + ``metrics.csv``;
- :mod:`.mcap_writer`: ROS 2 messages to one MCAP file without ROS (rosbag2-compatible);
- :mod:`.episode_recorder`: simulated episodes recorded on the live graph's topics
  (``evaluate --record``);
- :mod:`.plan_messages`: the plan as ``JointTrajectory`` + ``MarkerArray`` (node and recordings);
- :mod:`.recording_plot`: a recording read back and plotted (signals, the plan tube);
- :mod:`.report`: one offline HTML page per run folder (``mbrl-control report``).

Importing this package is light (no torch, mcap or matplotlib); each module imports its heavy
dependencies when used.
"""
