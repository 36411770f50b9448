"""Domain-randomization profiles: validation, sampling, and the reality gap."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mbrl_sim.profiles import DRProfile, load_profile

REFS = dict(n_links=2, damping_ref=np.ones(2), friction_ref=np.ones(2), n_actuated=1, push_ref=1.0)


@pytest.mark.parametrize("name", ["none", "default", "wide", "reality_gap"])
def test_profiles_load_and_sample_json(name):
    prof = load_profile(name)
    draw = prof.sample(np.random.default_rng(0), **REFS)
    assert set(draw) == set(DRProfile.names())
    assert json.loads(json.dumps(draw)) == draw
    assert draw == prof.sample(np.random.default_rng(0), **REFS)


def test_reality_gap_outside_default():
    default, gap = load_profile("default"), load_profile("reality_gap")
    for key in DRProfile.names():
        d, g = getattr(default, key), getattr(gap, key)
        assert g.low > d.high or g.high < d.low, key


def test_wide_contains_default():
    default, wide = load_profile("default"), load_profile("wide")
    for key in DRProfile.names():
        d, w = getattr(default, key), getattr(wide, key)
        assert w.low <= d.low and w.high >= d.high, key


def test_unknown_key_names_key_and_allowed():
    with pytest.raises(ValueError, match=r"mass_scal'.*allowed.*mass_scale"):
        DRProfile.from_mapping({"mass_scal": 1.0})


@pytest.mark.parametrize(
    "data, key",
    [
        ({"mass_scale": {"low": 1.2, "high": 0.8}}, "mass_scale"),
        ({"push_prob": {"low": 0.0, "high": 1.5}}, "push_prob"),
        ({"joint_damping": {"low": -1.0, "high": 0.0}}, "joint_damping"),
        ({"inertia_scale": {"low": 0.0, "high": 1.0, "dist": "loguniform"}}, "inertia_scale"),
        ({"actuator_gain": {"low": 0.9, "high": 1.1, "dist": "gauss"}}, "actuator_gain"),
        ({"action_delay": {"low": 0, "high": 1.5}}, "action_delay"),
        ({"obs_noise_pos": {"lo": 0, "high": 1}}, "obs_noise_pos"),
    ],
)
def test_impossible_values_name_the_key(data, key):
    with pytest.raises(ValueError, match=key):
        DRProfile.from_mapping(data)


def test_bad_profile_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("mass_scale: {low: 0.9, high: 1.1}\nfriction: 0.3\n")
    with pytest.raises(ValueError, match="friction"):
        load_profile(path)
    with pytest.raises(ValueError, match=r"allowed.*default"):
        load_profile("no_such_profile")


def test_distributions_stay_in_range():
    rng = np.random.default_rng(0)
    for dist in ("uniform", "loguniform", "normal"):
        p = DRProfile.from_mapping({"mass_scale": {"low": 0.5, "high": 2.0, "dist": dist}})
        x = p.mass_scale.sample(rng, 2000)
        assert x.min() >= 0.5 and x.max() <= 2.0 and x.std() > 0.1
