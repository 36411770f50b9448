"""A runner for ROS 2 YAML launch files, for machines without ``ros2 launch``.

``parser`` reads the upstream ``launch_yaml`` schema (the subset in ``docs/launch_subset.md``)
into ``model`` actions; ``plan`` executes them into exact node command lines; ``runner``
starts those as child processes and supervises them. Only the standard library and PyYAML
are used; rclpy is never imported here.
"""
