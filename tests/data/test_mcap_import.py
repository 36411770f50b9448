"""MCAP import: resampling at the task rate, command pairing, gaps end episodes."""

from __future__ import annotations

import numpy as np
import pytest
from mcap_ros2.writer import Writer

from mbrl_control.data.mcap_import import import_bag
from mbrl_control.data.store import TransitionStore

SEP = "=" * 80
HEADER = "builtin_interfaces/Time stamp\nstring frame_id"
TIME = "int32 sec\nuint32 nanosec"
JOINT_STATE = (
    "std_msgs/Header header\nstring[] name\nfloat64[] position\nfloat64[] velocity\n"
    f"float64[] effort\n{SEP}\nMSG: std_msgs/Header\n{HEADER}\n"
    f"{SEP}\nMSG: builtin_interfaces/Time\n{TIME}\n"
)
MULTI_ARRAY = (
    "std_msgs/MultiArrayLayout layout\nfloat64[] data\n"
    f"{SEP}\nMSG: std_msgs/MultiArrayLayout\nstd_msgs/MultiArrayDimension[] dim\n"
    f"uint32 data_offset\n{SEP}\nMSG: std_msgs/MultiArrayDimension\nstring label\n"
    "uint32 size\nuint32 stride\n"
)


def write_bag(path, times, command_value, command_len=1):
    """Joint states at ``times`` (s); a command right after each, equal to its index."""
    with open(path, "wb") as fh:
        w = Writer(fh)
        js = w.register_msgdef("sensor_msgs/msg/JointState", JOINT_STATE)
        cmd = w.register_msgdef("std_msgs/msg/Float64MultiArray", MULTI_ARRAY)
        for i, t in enumerate(times):
            ns = round(t * 1e9)
            msg = {
                "header": {"stamp": {"sec": ns // 10**9, "nanosec": ns % 10**9}, "frame_id": ""},
                "name": ["cart_to_pole", "slider_to_cart"],
                "position": [np.pi, 0.01 * i],
                "velocity": [0.0, 0.5],
                "effort": [],
            }
            w.write_message("/joint_states", js, msg, log_time=ns, publish_time=ns)
            data = {
                "layout": {"dim": [], "data_offset": 0},
                "data": [command_value(i)] * command_len,
            }
            w.write_message("/commands", cmd, data, log_time=ns + 1000, publish_time=ns + 1000)
        w.finish()


def test_import_pairs_commands_and_splits_on_gaps(tmp_path):
    # 100 Hz joint states (task runs at 50 Hz) for 0.5 s, a 0.1 s gap, then 0.3 s more.
    first = np.arange(50) * 0.01
    second = 0.6 + np.arange(30) * 0.01
    bag = tmp_path / "run.mcap"
    write_bag(bag, np.concatenate([first, second]), command_value=float)
    store = TransitionStore(tmp_path / "store")
    assert import_bag(bag, "cartpole_swingup", store) == 2
    data = store.load()
    lengths = [int((data.episode_id == e).sum()) for e in (0, 1)]
    assert lengths == [24, 14]  # 25 and 15 states kept at 50 Hz
    ep0 = data.episode_id == 0
    # state k is message 2k; the latest command before state k+1 came after message 2k+1
    np.testing.assert_allclose(data.obs[ep0][:, 0], 0.01 * 2 * np.arange(24), atol=1e-6)
    np.testing.assert_allclose(data.action[ep0][:, 0], 2 * np.arange(24) + 1.0)
    assert data.obs.shape[1] == 5 and data.episodes[1]["source"] == "mcap"
    assert data.episodes[1]["t_start"] == pytest.approx(0.6)


def test_wrong_command_length_is_a_clear_error(tmp_path):
    bag = tmp_path / "bad.mcap"
    write_bag(bag, np.arange(5) * 0.02, command_value=float, command_len=3)
    with pytest.raises(ValueError, match="expects 1"):
        import_bag(bag, "cartpole_swingup", TransitionStore(tmp_path / "s"))
