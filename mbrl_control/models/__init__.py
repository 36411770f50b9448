"""Probabilistic ensemble dynamics models: network, normalizer, trainer, checkpoints, validation.

- ``config``: ``EnsembleConfig`` (shape of the network), ``TrainConfig`` (how to train it).
- ``ensemble``: ``Ensemble`` (E Gaussian MLPs in one batched pass), ``mixture_moments``.
- ``sampling``: hold-out split by episode, per-member bootstrap pools and shuffles.
- ``trainer``: ``fit`` (Gaussian NLL, early stopping, warm start, replay mixing).
- ``checkpoint``: ``save_checkpoint`` / ``load_checkpoint`` (one file, ``weights_only``).
- ``evaluation``: ``validate`` (accuracy, calibration, k-step error, disagreement) and
  ``write_report`` (JSON + PNG via ``mbrl_control.diagnostics.model_report``).
"""
