"""Layout of a planning step's extra inputs: standard-normal noise, carried state, filters.

All randomness enters a planning step as standard-normal inputs, drawn by one
:class:`NoiseStream` on both sides: the torch reference (``build_planner``) and the ONNX
runtime (``OnnxPlanner``, which draws the next tick's noise between ticks) given the same
seed consume the same noise, so their actions agree up to float rounding. Either side also
takes an explicit noise mapping per step (``act(obs, noise=...)``).
Correlation along the horizon is a constant lower-triangular ``(H, H)`` matrix applied
inside the step (one MatMul, no FFT): :func:`colored_noise_matrix` for iCEM's power-law
noise, :func:`ar1_matrix` for MPPI smoothing. Both keep unit variance per step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mbrl_control.planning.config import PlannerConfig


def colored_noise_matrix(horizon: int, beta: float) -> np.ndarray:
    """``L (H, H)`` such that ``L @ w`` for white ``w (H,)`` is 1/f^beta noise of unit variance.

    The power-law process is the one iCEM samples with an inverse real FFT over H steps
    (spectrum ``f^(-beta/2)``, lowest frequency clipped to ``1/H``). It is linear in its
    Gaussian spectral coefficients, so its covariance ``C`` is exact; ``L`` is the Cholesky
    factor of ``C`` normalized to unit diagonal. ``beta = 0`` gives the identity.
    """
    freqs = np.fft.rfftfreq(horizon)  # (F,)
    freqs[0] = 1.0 / horizon
    scale = freqs ** (-beta / 2.0)
    real_only = np.zeros(len(freqs), bool)  # DC and (even H) Nyquist have no imaginary part
    real_only[0] = True
    if horizon % 2 == 0:
        real_only[-1] = True
    columns = []
    for k, (s, r) in enumerate(zip(scale, real_only)):
        for part in (1.0,) if r else (1.0, 1j):
            spectrum = np.zeros(len(freqs), complex)
            spectrum[k] = part * s * (np.sqrt(2.0) if r else 1.0)
            columns.append(np.fft.irfft(spectrum, n=horizon))
    mix = np.stack(columns, axis=1)  # (H, H): coefficients -> samples
    cov = mix @ mix.T
    cov /= np.sqrt(np.outer(np.diag(cov), np.diag(cov)))  # unit variance per step
    return np.linalg.cholesky(cov + 1e-9 * np.eye(horizon)).astype(np.float32)


def ar1_matrix(horizon: int, coeff: float) -> np.ndarray:
    """``L (H, H)``: ``x_t = coeff x_(t-1) + sqrt(1 - coeff²) w_t`` with ``x_0 = w_0``."""
    t = np.arange(horizon)
    lag = t[:, None] - t[None, :]
    gain = np.where(t[None, :] == 0, 1.0, np.sqrt(1.0 - coeff**2))
    return np.where(lag >= 0, coeff ** np.maximum(lag, 0) * gain, 0.0).astype(np.float32)


def noise_shapes(cfg: PlannerConfig, obs_dim: int, act_dim: int) -> dict[str, tuple[int, ...]]:
    """Standard-normal inputs of one planning step, by name.

    ``action_noise (I, N, H, A)`` (iCEM uses the first ``populations[i]`` rows of
    iteration i); with ``cfg.aleatoric`` also ``state_noise (I, H, P·N, O)``, one draw per
    particle and step.
    """
    i, n, h = cfg.iterations, cfg.population, cfg.horizon
    shapes = {"action_noise": (i, n, h, act_dim)}
    if cfg.aleatoric:
        shapes["state_noise"] = (i, h, cfg.particles * n, obs_dim)
    return shapes


def carry_shapes(cfg: PlannerConfig, act_dim: int) -> dict[str, tuple[int, ...]]:
    """State carried between steps, by name: ``plan (H, A)``, iCEM ``elites (k, H, A)``.

    Each is an input of one step and the matching output of the step before (the ONNX
    graph names them ``prev_<name>`` / ``next_<name>``); a reset fills them with the
    action-range midpoint.
    """
    shapes = {"plan": (cfg.horizon, act_dim)}
    if cfg.kept_elites:
        shapes["elites"] = (cfg.kept_elites, cfg.horizon, act_dim)
    return shapes


class NoiseStream:
    """The planners' one source of standard-normal noise (numpy only: the runtime uses it too).

    ``NoiseStream(shapes, seed).draw()`` returns ``{name: float32 array of shapes[name]}``,
    drawn from ``numpy.random.default_rng(seed)`` in the order of ``shapes`` (the order of
    :func:`noise_shapes`); successive draws continue the stream. The torch planner and the
    ONNX runtime built with the same seed (default: ``PlannerConfig.seed``) draw identical
    noise step after step.
    """

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], seed: int) -> None:
        self.shapes = {k: tuple(int(d) for d in v) for k, v in shapes.items()}
        self.seed(seed)

    def seed(self, seed: int) -> None:
        """Restart the stream from ``seed`` (an int >= 0; ``ValueError`` otherwise)."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"noise seed must be an int >= 0, got {seed!r}")
        self.rng = np.random.default_rng(int(seed))

    def draw(self) -> dict[str, np.ndarray]:
        """The next step's noise, one float32 standard-normal array per name."""
        return {k: self.rng.standard_normal(s, dtype=np.float32) for k, s in self.shapes.items()}

    def check(self, noise: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """An explicit noise mapping as float32 arrays; ``ValueError`` naming the first bad,
        missing or unknown name (allowed: ``self.shapes``). Torch tensors are accepted."""
        if not self.shapes and noise:
            raise ValueError(
                "this planner takes no noise input (an ONNX file exported with "
                "noise_input=False draws its own); call act without noise="
            )
        unknown = sorted(set(noise) - set(self.shapes))
        missing = sorted(set(self.shapes) - set(noise))
        if unknown or missing:
            raise ValueError(
                f"noise must have exactly the keys {sorted(self.shapes)} "
                f"(missing {missing}, unknown {unknown})"
            )
        out = {}
        for k, shape in self.shapes.items():
            value = noise[k]
            value = value.detach().cpu().numpy() if hasattr(value, "detach") else value
            arr = np.asarray(value, np.float32)
            if arr.shape != shape or not np.all(np.isfinite(arr)):
                raise ValueError(f"noise[{k!r}] must be finite with shape {shape}, got {arr.shape}")
            out[k] = arr
        return out
