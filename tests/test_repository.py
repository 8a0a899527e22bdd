"""Checks of the repository's metadata files that hassfest and HACS would make."""

from __future__ import annotations

import json
from pathlib import Path
import re

ROOT = Path(__file__).parent.parent
COMPONENT = ROOT / "custom_components" / "bc26"

MANIFEST_KEYS = [
    "domain",
    "name",
    "codeowners",
    "config_flow",
    "dependencies",
    "documentation",
    "integration_type",
    "iot_class",
    "issue_tracker",
    "loggers",
    "requirements",
    "version",
]


def test_manifest_has_the_keys_hassfest_and_hacs_want_in_order() -> None:
    manifest = json.loads((COMPONENT / "manifest.json").read_text())
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert set(keys) <= set(MANIFEST_KEYS)
    assert manifest["domain"] == COMPONENT.name
    for key in ("version", "issue_tracker", "documentation", "codeowners", "iot_class"):
        assert manifest[key], key
    assert manifest["documentation"].startswith("https://")


def test_serialx_requirement_admits_both_home_assistant_pins() -> None:
    """HA 2026.10.4 pins serialx 1.11.0 and 2026.11.0 pins 1.15.1: a range must admit both."""
    manifest = json.loads((COMPONENT / "manifest.json").read_text())
    (requirement,) = [r for r in manifest["requirements"] if r.startswith("serialx")]
    match = re.fullmatch(r"serialx>=(\d+)\.(\d+)\.(\d+)(?:,<(\d+))?", requirement)
    assert match, requirement
    minimum = tuple(int(part) for part in match.groups()[:3])
    assert minimum <= (1, 11, 0)
    if match.group(4):
        assert int(match.group(4)) > 1


def test_hacs_json_names_the_minimum_home_assistant() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert set(hacs) <= {"name", "homeassistant", "country", "render_readme", "hide_default_branch"}
    assert hacs["name"]
    assert hacs["homeassistant"] == "2025.4.0"
