"""Fixtures shared by every test area."""

from __future__ import annotations

from collections.abc import Iterator
import logging

import pytest

# Area-specific fixtures live in plugin modules, one per area.
pytest_plugins: list[str] = [
    "tests.sim_fixtures",
    "tests.lwm2m_fixtures",
    "tests.modem_fixtures",
    "tests.ha_fixtures",
    "tests.ha2_fixtures",
]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load custom_components/bc26 in every test that runs a hass."""
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")


@pytest.fixture(autouse=True)
def no_home_assistant_deprecations(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test in which Home Assistant reports something we do as deprecated."""
    yield
    offending = [
        record.getMessage()
        for record in caplog.get_records("call")
        if record.levelno >= logging.WARNING
        and record.name.startswith("homeassistant")
        and "deprecat" in record.getMessage().lower()
    ]
    assert not offending, offending
