"""Inputs the data never varied (issue 13 item 1): bounded predictions, honest disagreement.

A 2-obs/2-act system trained on 2000 rows where ``action[:, 1]`` is 0 (a locked joint, an
unused command) or nearly so. Before the fix the input std was floored at 1e-6, so
``action[1] = 0.5`` became a network input of 5e5 and moved the prediction by thousands, with
the members in full agreement.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbrl_control.models.config import EnsembleConfig, TrainConfig
from mbrl_control.models.ensemble import Ensemble
from mbrl_control.models.trainer import fit

QUICK = TrainConfig(batch_size=128, max_epochs=25, patience=25)
MAX_DELTA = 0.2
"""Largest |next_obs - obs| the system can produce (0.1 x (|x1| + |sin| + |a0|) <= 0.2)."""


def locked_system(rng: np.random.Generator, jitter: float) -> tuple[np.ndarray, ...]:
    """2000 rows of ``x' = x + 0.1 (x1, -sin(3 x0) + a0)``; ``a1`` is ``jitter * N(0, 1)``."""
    n = 2000
    obs = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    act = np.stack([rng.uniform(-1, 1, n), jitter * rng.standard_normal(n)], 1).astype(np.float32)
    nxt = obs + 0.1 * np.stack([obs[:, 1], -np.sin(3 * obs[:, 0]) + act[:, 0]], 1)
    return obs, act, nxt.astype(np.float32)


@pytest.fixture(scope="module", params=[0.0, 1e-4], ids=["constant", "near_constant"])
def locked_fit(request, seeds) -> tuple[Ensemble, np.ndarray, np.ndarray, torch.Tensor, float]:
    """Trained model, 200 in-distribution rows (obs, act), initial first-layer weight, jitter."""
    obs, act, nxt = locked_system(np.random.default_rng(seeds(11)), request.param)
    with torch.random.fork_rng():  # the base commit's Ensemble draws from the global RNG
        torch.manual_seed(seeds(12))
        model = Ensemble(EnsembleConfig(2, 2, members=5, hidden=32, layers=2))
    w0 = model.hidden[0].weight.detach().clone()  # (E, D, W)
    fit(model, obs, act, nxt, None, QUICK, rng=np.random.default_rng(seeds(13)))
    return model, obs[:200], act[:200], w0, request.param


def moments(model: Ensemble, obs: np.ndarray, act: np.ndarray, a1: float | None):
    """Member-mean prediction ``(B, O)`` and disagreement (member variance, mean over B, O)."""
    act = act.copy()
    if a1 is not None:
        act[:, 1] = a1
    mean, _ = model.predict(obs, act)  # (E, B, O)
    return mean.mean(0), float(mean.var(0, unbiased=False).mean())


@pytest.mark.parametrize("a1", [0.01, 0.5])
def test_unvaried_input_keeps_predictions_bounded_and_members_disagreeing(locked_fit, a1):
    """At ``a1 = 0.01`` and ``0.5`` (never seen) the prediction moves by less than 0.5, 2.5x the
    largest change the system makes (measured: <= 0.003 at 0.01, <= 0.13 at 0.5; base: 57 and
    2845). The disagreement does not collapse anywhere (>= half the in-distribution value;
    measured ~1.0x at 0.01, where the input is 1 % of its scale) and at 0.5 it is >= 2x the
    in-distribution value (measured 24x-230x): the members never learned that input, so
    they differ there instead of agreeing on nonsense."""
    model, obs, act, _, _ = locked_fit
    base, dis_in = moments(model, obs, act, None)
    pred, dis = moments(model, obs, act, a1)
    shift = float((pred - base).abs().max())
    assert shift < 2.5 * MAX_DELTA, (a1, shift)
    assert dis >= 0.5 * dis_in, (a1, dis, dis_in)
    if a1 >= 0.5:
        assert dis >= 2.0 * dis_in, (a1, dis, dis_in)


def test_never_varied_input_keeps_its_random_weights(locked_fit):
    """No gradient reaches the first-layer weights of an exactly constant input, and weight
    decay must not pull them to 0 either (that made every member ignore the input alike, so
    the disagreement collapsed after long training): they stay bit-identical to the init."""
    model, _, _, w0, jitter = locked_fit
    w = model.hidden[0].weight.detach()
    assert not torch.equal(w[:, 0], w0[:, 0])  # a varied input's weights did train
    if jitter == 0.0:
        assert torch.equal(w[:, 3], w0[:, 3])


def test_input_floor_follows_the_declared_scale():
    """The std floor is a tenth of the declared scale: half the action range from
    ``for_task``, 1 where nothing is declared; the config survives JSON-like lists."""

    class Task:
        obs_dim, act_dim = 2, 2
        low, high = np.array([-10.0, -0.5]), np.array([10.0, 0.5])

    cfg = EnsembleConfig.for_task(Task(), members=2, hidden=8, layers=1)
    assert cfg.input_scale == (1.0, 1.0, 10.0, 0.5)
    assert cfg.input_std_floor() == pytest.approx((0.1, 0.1, 1.0, 0.05))
    assert EnsembleConfig(2, 2).input_std_floor() == pytest.approx((0.1,) * 4)
    preset = {"obs_dim": 2, "act_dim": 2, "members": 2}  # a preset may name the sizes too
    assert EnsembleConfig.for_task(Task(), **preset).input_scale == cfg.input_scale
    with pytest.raises(ValueError, match="obs_dim=5 but the task has 2"):
        EnsembleConfig.for_task(Task(), obs_dim=5)
    again = EnsembleConfig.from_mapping({**cfg.to_dict(), "input_scale": [1, 1, 10, 0.5]})
    assert again == cfg
    with pytest.raises(ValueError, match="input_scale"):
        EnsembleConfig(2, 2, input_scale=(1.0, 1.0, 0.0, 1.0))
    model = Ensemble(cfg)
    x = torch.zeros(50, 4)
    x[:, 0] = torch.linspace(-1, 1, 50)  # varied obs; the rest constant
    model.in_norm.fit(x, model.input_std_floor())
    assert model.in_norm.std[1:].tolist() == pytest.approx([0.1, 1.0, 0.05])
    assert model.in_norm.std[0] > 0.5


def test_floored_model_round_trips_and_exports_the_same_normalizer(locked_fit, tmp_path):
    """The floored normalizer travels in the ``weights_only`` checkpoint (also one written
    before ``seed``/``input_scale`` existed) and the export-side re-expression (normalizer
    folded into the first layer) predicts the same off-data."""
    from mbrl_control.export.gemm_ensemble import GemmEnsemble
    from mbrl_control.models.checkpoint import load_checkpoint, save_checkpoint

    model, obs, act, _, _ = locked_fit
    act = act.copy()
    act[:, 1] = 0.5
    path = save_checkpoint(tmp_path / "m.pt", model)
    raw = torch.load(path, weights_only=True)
    for key in ("seed", "input_scale"):
        del raw["config"][key]
    torch.save(raw, tmp_path / "old.pt")
    e = model.members
    o, a = torch.from_numpy(obs).expand(e, -1, -1), torch.from_numpy(act).expand(e, -1, -1)
    with torch.no_grad():
        want = model(o, a)
        for loaded in (load_checkpoint(path)[0], load_checkpoint(tmp_path / "old.pt")[0]):
            assert torch.equal(loaded.in_norm.std, model.in_norm.std)
            assert all(torch.equal(x, y) for x, y in zip(loaded(o, a), want))
        for layout in ("gemm", "batched"):
            got = GemmEnsemble(model, layout=layout)(o, a)
            for w, g in zip(want, got):
                torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)
