"""mbrl_sim: PyBullet simulator with domain randomization (folder ``sim/``, import ``mbrl_sim``)."""
