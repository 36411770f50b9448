"""The RSSM world model (mbrl_control/latent/): shapes, imagination sees no future frames, it
overfits a small set of real pixel-env sequences (30 Adam steps; seeded, small config for CPU
speed), and its exported filter step matches torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mbrl_sim.pixel_env import make_pixel_env

from mbrl_control.latent import WorldModel, WorldModelConfig

SMALL = WorldModelConfig(depth=8, deter=32, stoch=8, hidden=32)


@pytest.fixture(scope="module")
def sequences() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """2 real cart-pole pixel sequences of 6 steps, random forces: images (2, 6, 3, 64, 64)
    uint8, actions (2, 6, 1) scaled to [-1, 1], rewards (2, 6)."""
    env = make_pixel_env("cartpole_swingup", seed=0)
    rng = np.random.default_rng(0)
    imgs = np.zeros((2, 6, 3, 64, 64), np.uint8)
    acts = np.zeros((2, 6, 1), np.float32)
    rews = np.zeros((2, 6), np.float32)
    for b in range(2):
        frame, _ = env.reset(seed=b)
        for t in range(6):
            imgs[b, t] = frame.transpose(2, 0, 1)
            acts[b, t] = rng.uniform(-1, 1, 1)
            frame, rews[b, t], *_ = env.step(10 * acts[b, t])
    env.close()
    return torch.as_tensor(imgs), torch.as_tensor(acts), torch.as_tensor(rews)


def test_shapes_and_open_loop_uses_only_the_context(sequences) -> None:
    torch.manual_seed(0)
    images, actions, _ = sequences
    model = WorldModel(1, SMALL)
    post, prior = model.filter(images, actions)
    assert post.features.shape == (2, 6, 40) and prior.mean.shape == (2, 6, 8)
    dream = model.open_loop(images, actions, context=2)
    assert dream.shape == images.shape and dream.dtype == torch.uint8
    # frames after the context are never seen: changing them changes nothing (same noise)
    other = images.clone()
    other[:, 2:] = 255 - other[:, 2:]
    torch.manual_seed(1)
    a = model.open_loop(images, actions, context=2)
    torch.manual_seed(1)
    b = model.open_loop(other, actions, context=2)
    assert torch.equal(a, b)


def test_world_model_overfits_a_small_sequence_set(sequences) -> None:
    torch.manual_seed(0)
    images, actions, rewards = sequences
    continues = torch.ones_like(rewards)
    model = WorldModel(1, SMALL)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    history = []
    for _ in range(30):
        loss, metrics = model.loss(images, actions, rewards, continues)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(metrics)
    first, last = history[0], history[-1]
    assert np.isfinite(last["loss"])
    assert last["loss"] < 0.2 * first["loss"], (first, last)
    assert last["image"] < 0.2 * first["image"]
    assert last["reward"] < 0.5 * first["reward"]
    assert {"image", "reward", "continue", "kl", "loss"} <= set(last)


def test_exported_filter_step_matches_torch(tmp_path, sequences) -> None:
    import onnxruntime as ort

    from mbrl_control.latent.export import FilterStep, export_filter_step

    torch.manual_seed(0)
    images, actions, _ = sequences
    model = WorldModel(1, SMALL).eval()
    path = export_filter_step(model, tmp_path / "filter.onnx", {"task": "cartpole_swingup"})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["kind"] == '"latent_filter_step"' and meta["deter"] == "32"
    step = FilterStep(model)
    # a 6-frame filter run through both, each feeding its own state back
    h_t, z_t = torch.zeros(1, 32), torch.zeros(1, 8)
    h_o, z_o = np.zeros((1, 32), np.float32), np.zeros((1, 8), np.float32)
    prev = torch.zeros(1, 1)
    for t in range(6):
        img = images[:1, t]
        with torch.no_grad():
            h_t, z_t, r_t = step(img, h_t, z_t, prev)
        h_o, z_o, r_o = sess.run(
            None, {"image": img.numpy(), "h": h_o, "z": z_o, "prev_action": prev.numpy()}
        )
        np.testing.assert_allclose(h_o, h_t.numpy(), atol=1e-4)
        np.testing.assert_allclose(z_o, z_t.numpy(), atol=1e-4)
        np.testing.assert_allclose(r_o, r_t.numpy(), atol=1e-4)
        prev = actions[:1, t]


def test_filter_latency_bench_prints_json(capsys) -> None:
    import json

    from mbrl_control.bench import latent_filter

    assert latent_filter.main(["--steps", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["threads"] == 1 and [r["deter"] for r in out["sizes"]] == [64, 128, 200]
    for r in out["sizes"]:
        assert 0 < r["median_ms"] <= r["p99_ms"] and r["onnx_bytes"] > 0
