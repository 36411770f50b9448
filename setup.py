"""mbrl_control: one ament_python ROS 2 package that is also pip-installable.

The simulator lives in the top-level ``sim/`` folder but is imported as ``mbrl_sim``
(a bare ``sim`` import name would collide in users' environments).
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mbrl_control"

ROS_JAZZY = [
    "ros-jazzy-rclpy[fastrtps]>=7.1",
    "ros-jazzy-std-msgs>=5.3",
    "ros-jazzy-sensor-msgs>=5.3",
    "ros-jazzy-geometry-msgs>=5.3",
    "ros-jazzy-std-srvs>=5.3",
    "ros-jazzy-diagnostic-msgs>=5.3",
    "ros-jazzy-rosgraph-msgs>=2.0",
    "ros-jazzy-lifecycle-msgs>=2.0",
    "ros-jazzy-trajectory-msgs>=5.3",  # ~/plan: the planned joint states over the horizon
    "ros-jazzy-visualization-msgs>=5.3",  # ~/plan_markers: the members' predicted paths
]

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Model-based RL control for ROS 2: ensemble dynamics + CEM/MPC planner in ONNX",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"])
    + ["mbrl_sim"]
    + [f"mbrl_sim.{p}" for p in find_packages(where="sim")],
    package_dir={"mbrl_sim": "sim"},
    package_data={
        "mbrl_sim": ["profiles/*.yaml", "assets/*"],
        "mbrl_control": ["tasks/builtin/*.task.yaml", "recording/*.json"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.yaml")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    # Tested lower bounds (the versions CI installs are in .ci/constraints.txt).
    install_requires=[
        "numpy>=1.26",
        "scipy>=1.11",
        "torch>=2.13.0",  # install torch==2.13.0 (CPU) first: ./dev does
        "onnx>=1.17",
        "onnxruntime>=1.20",
        "pybullet>=3.2.6",
        "gymnasium>=1.0",
        "PyYAML>=6.0",
        "tqdm>=4.66",
        "matplotlib>=3.8",
        "pillow>=10.0",
        "mcap>=1.2",
        "mcap-ros2-support>=0.5",
        "rosbags>=0.10",  # reads rosbag2 directories and files, MCAP and sqlite3, without ROS
        "yourdfpy>=0.0.60",  # parses URDF (joints, limits, mimic, inertials) for task files
        "xacro>=2.1",  # expands .urdf.xacro robot descriptions as found in the wild
        "cma>=4.5",  # CMA-ES for `mbrl-control calibrate` (simulator parameters from robot data)
        "tensorboard>=2.21",  # event files for training/finetuning metrics (torch's SummaryWriter)
    ],
    extras_require={
        # Not for machines that have ROS 2 Jazzy from apt: source /opt/ros/jazzy instead.
        "ros": ROS_JAZZY,
        "test": [
            "pytest>=8.0",
            "pytest-timeout>=2.3",
            "pytest-xdist>=3.8",  # ./dev test runs the suite on 2 workers
            "hypothesis>=6.100",
            "ruff>=0.15",
            "colcon-common-extensions>=0.3",
            "setuptools<80",  # colcon's ament_python build needs the develop command
            "ray>=2.40",  # the collector's --backend ray is tested with a local instance
        ],
        "ray": ["ray>=2.40"],
    },
    zip_safe=True,
    entry_points={
        "console_scripts": [
            "mbrl-control = mbrl_control.cli:main",
            "sim_node = mbrl_control.ros.sim_node:main",
            "mpc_controller = mbrl_control.ros.controller_node:main",
            "pixel_controller = mbrl_control.ros.pixel_controller_node:main",
            "finetune_node = mbrl_control.ros.finetune_node:main",
        ],
    },
)
