"""The shipped Foxglove layout names only topics the recorder writes, fields their schemas
have, and panels that exist."""

from __future__ import annotations

import json
import re

from mbrl_control.recording.episode_recorder import (
    PLAN_TOPIC_TYPES,
    TOPIC_TYPES,
    foxglove_layout_path,
)
from mbrl_control.recording.mcap_writer import typestore

PATH = re.compile(r"^(?P<topic>/[\w/]+)\.(?P<field>\w+)")


def _leaves(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    return _leaves(node["first"]) + _leaves(node["second"])


def _paths(config: dict) -> list[str]:
    found = [p["value"] for p in config.get("paths", [])]
    found += [config[k] for k in ("topicPath", "topicToRender") if config.get(k)]
    return found + list(config.get("topics", {}))  # a 3D panel's topics


def test_layout_panels_topics_and_fields_exist() -> None:
    layout = json.loads(foxglove_layout_path().read_text())
    panels = layout["configById"]
    assert sorted(_leaves(layout["layout"])) == sorted(panels)
    topics = TOPIC_TYPES | PLAN_TOPIC_TYPES
    recorded = {"/" + topic.lstrip("/"): typename for topic, typename in topics.items()}
    paths = [p for config in panels.values() for p in _paths(config)]
    assert len(paths) >= 8 and "/mpc_controller/plan_markers" in paths
    for path in paths:
        m = PATH.match(path) or re.match(r"^(?P<topic>/[\w/]+)$", path)
        assert m and m["topic"] in recorded, path
        if m.groupdict().get("field"):
            _, fields = typestore().fielddefs[recorded[m["topic"]]]
            assert m["field"] in [name for name, _ in fields], path
