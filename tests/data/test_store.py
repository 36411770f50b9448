"""Transition store: round trip, format without the package, crash safety under SIGKILL."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mbrl_control.data.store import TransitionStore


def episode(rng, t=5, o=3, a=2, g=0):
    meta = {"task": "t", "profile": "p", "dr": {"mass_scale": [1.1]}, "goal": [0.5] * g}
    return rng.normal(size=(t + 1, o)), rng.normal(size=(t, a)), meta


def test_round_trip_arrays_and_meta(tmp_path):
    store = TransitionStore(tmp_path / "s")
    rng = np.random.default_rng(0)
    eps = [episode(rng, t=4 + i, g=3) for i in range(3)]
    ids = [store.append_episode(*e) for e in eps]
    assert ids == [0, 1, 2] and len(store) == 3
    data = TransitionStore(tmp_path / "s").load()
    assert len(data) == 4 + 5 + 6
    assert data.obs.dtype == np.float32 and data.episode_id.dtype == np.int64
    assert data.goal.shape == (15, 3) and (data.goal == 0.5).all()
    first = data.episode_id == 1
    np.testing.assert_allclose(data.obs[first], eps[1][0][:-1].astype(np.float32))
    np.testing.assert_allclose(data.next_obs[first], eps[1][0][1:].astype(np.float32))
    np.testing.assert_allclose(data.action[first], eps[1][1].astype(np.float32))
    assert data.done[first].tolist() == [False] * 4 + [True]
    assert data.episodes[2]["dr"] == {"mass_scale": [1.1]} and data.episodes[2]["id"] == 2
    summary = store.summary()
    assert summary["episodes"] == 3 and summary["transitions"] == 15
    assert len(summary["obs"]["mean"]) == 3


def test_format_readable_with_numpy_alone(tmp_path):
    store = TransitionStore(tmp_path)
    obs, act, meta = episode(np.random.default_rng(1))
    store.append_episode(obs, act, meta)
    path = tmp_path / "episodes" / "ep_000000.npz"
    assert sorted(zipfile.ZipFile(path).namelist()) == [
        "action.npy",
        "goal.npy",
        "meta_json.npy",
        "obs.npy",
    ]
    with np.load(path, allow_pickle=False) as z:
        np.testing.assert_allclose(z["obs"], obs.astype(np.float32))
        assert json.loads(str(z["meta_json"]))["task"] == "t"
        assert z["goal"].shape == (5, 0)


def test_leftover_temp_files_are_ignored_and_bad_input_rejected(tmp_path):
    store = TransitionStore(tmp_path)
    (tmp_path / "episodes" / ".tmp-1-abc.npz").write_bytes(b"half a zip")
    obs, act, meta = episode(np.random.default_rng(2))
    assert store.append_episode(obs, act, meta) == 0
    assert len(store.load()) == 5 and store.summary()["unfinished_writes"] == 1
    with pytest.raises(ValueError, match="T\\+1"):
        store.append_episode(obs, act[:-1], meta)
    bad = obs.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        store.append_episode(bad, act, meta)
    assert len(store) == 1


def test_sigkill_mid_collection_keeps_completed_episodes(tmp_path):
    out = tmp_path / "store"
    argv = [
        sys.executable,
        "-m",
        "mbrl_control.cli",
        "collect",
        "--task",
        "cartpole_swingup",
        "--episodes",
        "500",
        "--workers",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    proc = subprocess.Popen(
        argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while len(TransitionStore(out)) < 3:  # until a few episodes are written
            assert proc.poll() is None, "collector exited early"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the collector and its workers
        proc.wait()
    store = TransitionStore(out)
    files = sorted((out / "episodes").glob("ep_*.npz"))
    data = store.load()
    assert 3 <= len(files) < 500 and len(data.episodes) == len(files)
    assert len(data) == 200 * len(files)  # every episode complete
    assert np.isfinite(data.obs).all()
    # the store stays appendable after the crash
    obs, act, meta = episode(np.random.default_rng(3), o=5, a=1)
    assert store.append_episode(obs, act, meta) == len(files)


def _three_episodes(root):
    store = TransitionStore(root)
    rng = np.random.default_rng(4)
    for _ in range(3):
        store.append_episode(*episode(rng))
    return store, root / "episodes"


def test_stray_files_are_ignored_with_a_warning_naming_them(tmp_path, caplog):
    store, eps = _three_episodes(tmp_path)
    (eps / "ep_backup.npz").write_bytes((eps / "ep_000000.npz").read_bytes())  # cp as backup
    (eps / "notes.txt").write_text("robot was hot")
    with caplog.at_level(logging.WARNING):
        data = store.load()
    assert len(data.episodes) == 3 and len(data) == 15
    assert "ep_backup.npz" in caplog.text and "notes.txt" in caplog.text
    assert {Path(s["file"]).name for s in data.skipped} == {"ep_backup.npz", "notes.txt"}
    assert store.append_episode(*episode(np.random.default_rng(5))) == 3  # still appendable
    assert len(store.summary()["skipped"]) == 2


def test_damaged_episodes_are_skipped_naming_the_file_keeping_the_others(tmp_path, caplog):
    store, eps = _three_episodes(tmp_path)
    (eps / "ep_000003.npz").write_bytes(b"")  # zero bytes
    good = (eps / "ep_000000.npz").read_bytes()
    (eps / "ep_000004.npz").write_bytes(good[: len(good) // 2])  # torn write
    np.savez(  # crafted: no transitions
        eps / "ep_000005.npz",
        obs=np.zeros((1, 3), np.float32),
        action=np.zeros((0, 2), np.float32),
        goal=np.zeros((0, 0), np.float32),
        meta_json=np.array("{}"),
    )
    np.savez(eps / "ep_000006.npz", obs=np.zeros((3, 3)))  # arrays missing
    store.append_episode(*episode(np.random.default_rng(6)))  # ep_000007, fine
    (eps / "ep_000008.npz").write_text("lab notes, not an episode\n")  # a stray text file
    with caplog.at_level(logging.WARNING):
        data = store.load()
    assert sorted(m["id"] for m in data.episodes) == [0, 1, 2, 7]
    skipped = {Path(s["file"]).name: s["reason"] for s in data.skipped}
    assert set(skipped) == {f"ep_00000{i}.npz" for i in (3, 4, 5, 6, 8)}
    assert "0 bytes" in skipped["ep_000003.npz"] and "no transitions" in skipped["ep_000005.npz"]
    # in words, not numpy's "pickled data ... allow_pickle=" hint
    assert "not an .npz archive" in skipped["ep_000008.npz"], skipped["ep_000008.npz"]
    for name in skipped:
        assert name in caplog.text


def test_episode_metas_reads_only_the_metadata(tmp_path):
    """``episode_metas``: the metas of ``load()`` (with ids) without loading arrays: an
    episode whose arrays are inconsistent still has its meta read (``load`` skips it), a
    torn file and a stray name are left out."""
    store = TransitionStore(tmp_path)
    obs, act = np.zeros((3, 2), np.float32), np.zeros((2, 1), np.float32)
    store.append_episode(obs, act, {"task": "t", "goal": [], "k": 0})
    store.append_episode(obs, act, {"task": "t", "goal": [], "k": 1})
    np.savez(  # arrays that do not fit together; the meta is fine
        store.dir / "ep_000002.npz",
        obs=np.zeros((9, 2), np.float32),
        action=act,
        goal=np.zeros((2, 0), np.float32),
        meta_json=np.array(json.dumps({"task": "t", "k": 2})),
    )
    (store.dir / "ep_000003.npz").write_bytes(b"PK\x03\x04 torn")
    (store.dir / "ep_backup.npz").write_bytes(b"")
    metas = store.episode_metas()
    assert [(m["id"], m["k"]) for m in metas] == [(0, 0), (1, 1), (2, 2)]
    loaded = store.load().episodes
    assert loaded == metas[:2]


def test_two_writers_interleaved_take_fresh_increasing_ids(tmp_path):
    """Each writer lists the folder once, then tries the id after its last episode: a taken
    id is skipped, so interleaved writers never overwrite and ids keep increasing."""
    obs, act = np.zeros((3, 2), np.float32), np.zeros((2, 1), np.float32)
    a, b = TransitionStore(tmp_path), TransitionStore(tmp_path)
    order = "abab" + "ba"
    ids = [{"a": a, "b": b}[w].append_episode(obs, act, {"w": w}) for w in order]
    assert ids == [0, 1, 2, 3, 4, 5]
    assert "".join(m["w"] for m in a.episode_metas()) == order
