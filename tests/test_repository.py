"""Checks of the repository's metadata files that hassfest and HACS would make."""

from __future__ import annotations

import json
from pathlib import Path
import re

import yaml

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


QUALITY_SCALE_RULES = {
    # Bronze
    "action-setup", "appropriate-polling", "brands", "common-modules", "config-flow",
    "config-flow-test-coverage", "dependency-transparency", "docs-actions", "docs-conditions",
    "docs-triggers", "docs-high-level-description", "docs-installation-instructions",
    "docs-removal-instructions", "entity-event-setup", "entity-unique-id", "has-entity-name",
    "runtime-data", "test-before-configure", "test-before-setup", "unique-config-entry",
    # Silver
    "action-exceptions", "config-entry-unloading", "docs-configuration-parameters",
    "docs-installation-parameters", "entity-unavailable", "integration-owner",
    "log-when-unavailable", "parallel-updates", "reauthentication-flow", "test-coverage",
    # Gold
    "devices", "diagnostics", "discovery", "discovery-update-info", "docs-data-update",
    "docs-examples", "docs-known-limitations", "docs-supported-devices",
    "docs-supported-functions", "docs-troubleshooting", "docs-use-cases", "dynamic-devices",
    "entity-category", "entity-device-class", "entity-disabled-by-default",
    "entity-translations", "exception-translations", "icon-translations",
    "reconfiguration-flow", "repair-issues", "stale-devices",
    # Platinum
    "async-dependency", "inject-websession", "strict-typing",
}  # fmt: skip


def test_quality_scale_lists_every_rule_and_explains_each_exemption() -> None:
    rules = yaml.safe_load((COMPONENT / "quality_scale.yaml").read_text())["rules"]
    assert set(rules) == QUALITY_SCALE_RULES
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in {"done", "exempt", "todo"}, name
        if status == "exempt":
            assert rule["comment"].strip(), name


def test_brand_icons_are_square_pngs_of_the_expected_sizes() -> None:
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        data = (COMPONENT / "brand" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20]), int.from_bytes(data[20:24])
        assert (width, height) == (size, size)
