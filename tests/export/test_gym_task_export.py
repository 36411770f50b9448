"""GymTask (any gymnasium env) through the whole Python API: build, plan, export, run.

The user story of issue 15: on Pendulum-v1 a user had to import internal modules, write
joint mappings for an env without joints, add ``joint_names`` only because export crashed,
and pass private noise to compare the ONNX runtime with torch. Here none of that is needed.
"""

import warnings

import numpy as np
import pytest
import torch

gym = pytest.importorskip("gymnasium")
pytest.importorskip("onnxruntime")

import mbrl_control as mc  # noqa: E402

SMALL = {
    "cem": mc.PlannerConfig(kind="cem", horizon=5, population=24, particles=2, iterations=2),
    "icem": mc.PlannerConfig(
        kind="icem", horizon=5, population=24, particles=2, iterations=3, keep_elites_frac=0.5
    ),
    "mppi": mc.PlannerConfig(kind="mppi", horizon=5, population=24, particles=2, iterations=2),
}


def pendulum_cost(obs, action, next_obs):
    """Gymnasium's Pendulum-v1 cost in torch: θ² + 0.1 θ̇² + 0.001 u² (θ from cos/sin)."""
    theta = torch.atan2(obs[:, 1], obs[:, 0])
    return theta**2 + 0.1 * obs[:, 2] ** 2 + 0.001 * action[:, 0] ** 2


def pendulum_task(**kwargs):
    return mc.GymTask.from_env(gym.make("Pendulum-v1"), pendulum_cost, **kwargs)


def small_model(task, seed=0):
    return mc.Ensemble(mc.EnsembleConfig.for_task(task, members=2, hidden=16, layers=2, seed=seed))


def test_public_names_are_exported_from_the_package():
    for name in ("Task", "Critic", "GymTask", "OnnxPlanner", "build_planner", "export_planner"):
        assert name in mc.__all__ and getattr(mc, name) is not None


def test_gym_task_takes_bounds_rate_and_length_from_the_env():
    task = pendulum_task(obs_names=("cos_th", "sin_th", "th_dot"), action_units=("N·m",))
    assert task.name == "Pendulum-v1" and task.obs_dim == 3 and task.act_dim == 1
    assert task.obs_names == ("cos_th", "sin_th", "th_dot")
    assert task.action_names == ("action_0",)
    np.testing.assert_array_equal(task.low, [-2.0])
    np.testing.assert_array_equal(task.high, [2.0])
    assert task.control_hz == pytest.approx(20.0) and task.episode_steps == 200
    assert task.goal_dim == 0 and task.joint_names == () and task.critic_names == ("cost",)
    assert task.is_success(np.zeros(3)) is False  # default: never
    # the torch cost is the task's one critic (weight 1): the weights machinery still works
    obs = np.array([np.cos(0.5), np.sin(0.5), 1.0], np.float32)
    assert task.cost_np(obs, np.array([1.0]), obs) == pytest.approx(0.25 + 0.1 + 0.001, rel=1e-5)
    meta = task.metadata()
    assert meta["cost_source"] == "critics" and meta["joint_names"] == []


def test_gym_task_errors_are_one_line_and_name_the_problem():
    with pytest.raises(ValueError, match=r"action_space is Discrete.*only 1-D Box"):
        mc.GymTask.from_env(gym.make("CartPole-v1"), pendulum_cost)
    with pytest.raises(ValueError, match=r"shape \(B,\), got \(2, 1\)"):
        pendulum_task_cost = lambda o, a, n: o[:, :1]  # noqa: E731
        mc.GymTask.from_env(gym.make("Pendulum-v1"), pendulum_task_cost)
    with pytest.raises(ValueError, match="allowed: a torch function"):
        mc.GymTask.from_env(gym.make("Pendulum-v1"), "analytic")
    with pytest.raises(ValueError, match="must be finite"):
        mc.GymTask(name="x", obs_dim=2, action_low=[-np.inf], action_high=[1.0], cost="learned")
    task = pendulum_task(is_success=lambda obs: obs[0] > 0.99)
    assert task.is_success(np.array([1.0, 0.0, 0.0])) and not task.is_success(-np.ones(3))
    for call in (
        lambda: task.obs_from_joints(np.zeros(1), np.zeros(1)),
        lambda: task.obs_from_joint_state(["j"], [0.0], [0.0]),
    ):
        with pytest.raises(NotImplementedError, match="no joints and no ROS side"):
            call()


@pytest.mark.parametrize("kind", ["cem", "icem", "mppi"])
def test_export_and_runtime_for_a_task_without_joints_goal_or_scene(kind, tmp_path, seeds):
    """Base: export_planner raised AttributeError ('joint_names') for such a task."""
    task = pendulum_task()
    model = small_model(task, seeds(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "has no simulator scene" fallback warning
        path = mc.export_planner(model, task, SMALL[kind], tmp_path / "p.onnx")
    onnx_planner = mc.OnnxPlanner(path, expected_task="Pendulum-v1")
    meta = onnx_planner.metadata
    assert meta["task"]["joint_names"] == [] and meta["task"]["goal_dim"] == 0
    assert meta["cost"] == {"source": "critics", "critics": ["cost"]}
    np.testing.assert_allclose(meta["probe_states"], task.initial_observations(), rtol=1e-6)
    action = onnx_planner.act(np.array([1.0, 0.0, 0.0]))
    assert action.shape == (1,) and -2.0 <= action[0] <= 2.0


@pytest.mark.parametrize("kind", ["cem", "icem"])
def test_same_seed_gives_the_same_actions_in_torch_and_onnx(kind, tmp_path, seeds):
    """Base: the torch planner drew torch.randn noise, the runtime numpy noise: the same seed
    gave different actions (and explicit noise needed the runtime's private ``_noise``)."""
    task = pendulum_task()
    model = small_model(task, seeds(1))
    cfg = SMALL[kind]
    path = mc.export_planner(model, task, cfg, tmp_path / "p.onnx")
    torch_planner = mc.build_planner(model, task, cfg, seed=seeds(2))
    onnx_planner = mc.OnnxPlanner(path, seed=seeds(2))
    rng = np.random.default_rng(seeds(3))
    for _ in range(6):  # warm start and the noise streams advance in step
        obs = rng.uniform([-1, -1, -8], [1, 1, 8]).astype(np.float32)
        np.testing.assert_allclose(torch_planner.act(obs), onnx_planner.act(obs), atol=1e-5)
    # reset(seed) restarts both streams the same way
    torch_planner.reset(seed=seeds(4))
    onnx_planner.reset(seed=seeds(4))
    obs = np.array([0.0, 1.0, 0.0], np.float32)
    np.testing.assert_allclose(torch_planner.act(obs), onnx_planner.act(obs), atol=1e-5)


def test_same_seed_parity_holds_for_the_built_in_tasks_too(tmp_path, seeds):
    """The kind, not the one input: cart-pole (a task file with joints) through the same API."""
    task = mc.get_task("cartpole_swingup")
    model = small_model(task, seeds(5))
    path = mc.export_planner(model, task, SMALL["cem"], tmp_path / "p.onnx")
    torch_planner = mc.build_planner(model, task, SMALL["cem"])  # both default to cfg.seed
    onnx_planner = mc.OnnxPlanner(path)
    obs = np.array([0.1, -1.0, 0.05, 0.0, 0.2], np.float32)
    for _ in range(3):
        np.testing.assert_allclose(torch_planner.act(obs), onnx_planner.act(obs), atol=1e-5)


def test_explicit_noise_is_one_public_argument_on_both_sides(tmp_path, seeds):
    task = pendulum_task()
    model = small_model(task, seeds(6))
    cfg = SMALL["icem"]
    path = mc.export_planner(model, task, cfg, tmp_path / "p.onnx")
    torch_planner = mc.build_planner(model, task, cfg)
    onnx_planner = mc.OnnxPlanner(path)
    assert (
        onnx_planner.noise_shapes == torch_planner.noise_shapes == {"action_noise": (3, 24, 5, 1)}
    )
    rng = np.random.default_rng(seeds(7))
    obs = np.array([0.3, 0.9, -1.0], np.float32)
    for _ in range(3):
        noise = {"action_noise": rng.standard_normal((3, 24, 5, 1)).astype(np.float32)}
        t_action = torch_planner.act(
            obs, noise={"action_noise": torch.from_numpy(noise["action_noise"])}
        )
        np.testing.assert_allclose(t_action, onnx_planner.act(obs, noise=noise), atol=1e-5)
    # explicit noise does not advance the stream: the next streamed step still agrees
    np.testing.assert_allclose(torch_planner.act(obs), onnx_planner.act(obs), atol=1e-5)
    with pytest.raises(ValueError, match=r"missing \['action_noise'\], unknown \['noise'\]"):
        onnx_planner.act(obs, noise={"noise": np.zeros(3)})
    with pytest.raises(ValueError, match=r"noise\['action_noise'\] must be finite with shape"):
        torch_planner.act(obs, noise={"action_noise": np.zeros((1, 24, 5, 1))})
    internal = mc.export_planner(model, task, cfg, tmp_path / "q.onnx", noise_input=False)
    with pytest.raises(ValueError, match="takes no noise input"):
        mc.OnnxPlanner(internal).act(obs, noise=noise)
