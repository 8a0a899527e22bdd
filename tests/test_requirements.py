"""The two requirements files: the demo's is small, the tests' is the demo's plus tools.

`scripts/develop` installs requirements_demo.txt only; `scripts/test` installs
requirements_test.txt, which includes it. The demo must run the Home Assistant the
tests test, on each lane.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).parent.parent
TEST_TOOLS = {"pytest-homeassistant-custom-component", "playwright", "hypothesis", "mypy", "ruff"}


def _requirements(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def _for_this_python(name: str) -> dict[str, Requirement]:
    found = {}
    for line in _requirements(name):
        if line.startswith("-r "):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            found[requirement.name.lower()] = requirement
    return found


def test_the_tests_install_the_demo_too() -> None:
    assert "-r requirements_demo.txt" in _requirements("requirements_test.txt")


def test_the_demo_installs_no_test_tool() -> None:
    assert not set(_for_this_python("requirements_demo.txt")) & TEST_TOOLS


def test_the_demo_runs_the_home_assistant_the_tests_test() -> None:
    """This lane's Home Assistant came with the test plugin's pin; the demo pins the same."""
    pinned = _for_this_python("requirements_demo.txt")["homeassistant"]
    assert str(pinned.specifier) == f"=={metadata.version('homeassistant')}"
    frontend = _for_this_python("requirements_demo.txt")["home-assistant-frontend"]
    assert frontend.specifier.contains(metadata.version("home-assistant-frontend"))
