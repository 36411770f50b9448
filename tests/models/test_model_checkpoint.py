"""Checkpoints: identical predictions after a round trip, clear errors for bad files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from model_systems import make_model

import mbrl_control
from mbrl_control.models.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_gives_identical_predictions(clean_fit, clean_data, tmp_path: Path) -> None:
    model, metrics = clean_fit
    d = clean_data
    path = save_checkpoint(tmp_path / "sub" / "model.pt", model, {"n_rows": len(d.obs),
                           "holdout_mse": metrics["holdout_mse"]})  # fmt: skip
    loaded, prov = load_checkpoint(path)
    assert loaded.cfg == model.cfg and not loaded.training
    a, b = model.predict(d.obs[:100], d.action[:100]), loaded.predict(d.obs[:100], d.action[:100])
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    assert prov["n_rows"] == 2000 and prov["holdout_mse"] == metrics["holdout_mse"]
    assert prov["mbrl_control_version"] == mbrl_control.__version__
    assert prov["created"].endswith("+00:00")
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp files left
    # the file is plain containers: loadable with weights_only=True by anyone
    raw = torch.load(path, weights_only=True)
    assert raw["config"]["hidden"] == 64 and "in_norm.mean" in raw["state_dict"]


def test_overwrite_is_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(path, make_model(0), {"round": 1})
    save_checkpoint(path, make_model(1), {"round": 2})
    assert load_checkpoint(path)[1]["round"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pt: no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_files_give_clear_value_errors(tmp_path: Path) -> None:
    good = save_checkpoint(tmp_path / "good.pt", make_model(0))
    data = good.read_bytes()
    cases = {
        "truncated.pt": data[: len(data) // 2],
        "garbage.pt": b"\x00not a checkpoint at all" * 10,
        "empty.pt": b"",
        "pickle.pt": pickle.dumps(Path("/etc/passwd"), protocol=2),  # arbitrary object: refused
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=rf"{name}: not a readable checkpoint"):
            load_checkpoint(tmp_path / name)
    # a stray text file says what is wrong in words (was: "KeyError: 101")
    (tmp_path / "notes.pt").write_text("experiment notes\n")
    with pytest.raises(ValueError, match=r"notes\.pt: not a readable checkpoint \(not a torch"):
        load_checkpoint(tmp_path / "notes.pt")


def test_wrong_format_and_mismatched_weights(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other\.pt: not an mbrl_control ensemble checkpoint"):
        load_checkpoint(tmp_path / "other.pt")

    path = save_checkpoint(tmp_path / "m.pt", make_model(0))
    raw = torch.load(path, weights_only=True)
    raw["config"]["hidden"] = 32  # config no longer matches the stored weights
    torch.save(raw, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match=r"mismatch.pt: weights do not match.*hidden.0.weight"):
        load_checkpoint(tmp_path / "mismatch.pt")

    raw = torch.load(path, weights_only=True)
    raw["config"]["activation"] = "gelu"
    torch.save(raw, tmp_path / "badcfg.pt")
    with pytest.raises(ValueError, match=r"badcfg\.pt: bad model config.*allowed: silu"):
        load_checkpoint(tmp_path / "badcfg.pt")

    raw = torch.load(path, weights_only=True)
    raw["state_dict"]["head.bias"][0, 0, 0] = float("nan")
    torch.save(raw, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=r"nan.pt: non-finite values in \['head.bias'\]"):
        load_checkpoint(tmp_path / "nan.pt")


def test_provenance_must_be_json_like(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="object is not JSON-like"):
        save_checkpoint(tmp_path / "m.pt", make_model(0), {"bad": object()})
    assert not list(tmp_path.iterdir())
    import numpy as np

    path = save_checkpoint(tmp_path / "m.pt", make_model(0), {"x": np.float32(1.5), "p": tmp_path})
    prov = load_checkpoint(path)[1]
    assert prov["x"] == 1.5 and prov["p"] == str(tmp_path)
    json.dumps(prov)
