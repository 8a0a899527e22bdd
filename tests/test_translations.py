"""Every text of strings.json parses as the frontend parses it: as an ICU message.

The frontend formats each translation with FormatJS's `intl-messageformat`, tags
enabled. A string it cannot parse shows as "Translation error: <KIND>" in place of
the text (a literal `{{` gives MALFORMED_ARGUMENT). Nothing on the Home Assistant
side checks this, so `parse_icu` below follows `@formatjs/icu-messageformat-parser`
for what our texts use: literals, apostrophe quoting and `{name}` arguments. Typed
arguments (plural, select ...) and tags are refused: our texts have no use for
them, and a tag without a value to format it fails at display time anyway. The
browser test renders the pages and is the final word.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import unicodedata

import pytest

COMPONENT = Path(__file__).parent.parent / "custom_components" / "bc26"
STRINGS = COMPONENT / "strings.json"
SYNTAX_STARTING_A_QUOTE = "{}<>"


class IcuError(ValueError):
    """The message does not parse; `kind` is the frontend's name for the error."""

    def __init__(self, kind: str, offset: int) -> None:
        super().__init__(f"{kind} at offset {offset}")
        self.kind = kind


def _is_identifier_char(char: str) -> bool:
    """Not white space and not pattern syntax (ASCII punctuation, other symbols)."""
    if char.isspace():
        return False
    if char.isascii():
        return char.isalnum() or char == "_"
    return unicodedata.category(char)[0] not in "PS"


def _quoted(text: str, start: int) -> int:
    """Index after the quoted literal opened by the apostrophe at `start`."""
    index = start + 2  # the apostrophe and the syntax character it quotes
    while index < len(text):
        if text[index] == "'":
            if text[index + 1 : index + 2] == "'":
                index += 2
                continue
            return index + 1
        index += 1
    return index  # an unclosed quote runs to the end, as in FormatJS


def _argument(text: str, start: int) -> tuple[str, int]:
    """(name, index after the closing brace) of the argument opened at `start`."""
    index = start + 1
    while index < len(text) and text[index].isspace():
        index += 1
    if index == len(text):
        raise IcuError("EXPECT_ARGUMENT_CLOSING_BRACE", start)
    if text[index] == "}":
        raise IcuError("EMPTY_ARGUMENT", start)
    name_start = index
    while index < len(text) and _is_identifier_char(text[index]):
        index += 1
    name = text[name_start:index]
    if not name:
        raise IcuError("MALFORMED_ARGUMENT", start)
    while index < len(text) and text[index].isspace():
        index += 1
    if index == len(text):
        raise IcuError("EXPECT_ARGUMENT_CLOSING_BRACE", start)
    if text[index] == ",":
        raise IcuError("TYPED_ARGUMENT_NOT_USED_HERE", start)
    if text[index] != "}":
        raise IcuError("MALFORMED_ARGUMENT", start)
    return name, index + 1


def parse_icu(text: str) -> set[str]:
    """The argument names of `text`; IcuError where the frontend would fail."""
    names: set[str] = set()
    index = 0
    while index < len(text):
        char, following = text[index], text[index + 1 : index + 2]
        if char == "{":
            name, index = _argument(text, index)
            names.add(name)
        elif char == "'" and following == "'":
            index += 2
        elif char == "'" and following and following in SYNTAX_STARTING_A_QUOTE:
            index = _quoted(text, index)
        elif char == "<" and (following == "/" or following.isalpha()):
            raise IcuError("INVALID_TAG", index)
        else:
            index += 1  # a literal character; a lone "}" at the top level is one too
    return names


def _texts(node: object, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _texts(value, f"{key}.{name}" if key else name)
    elif isinstance(node, str):
        yield key, node


TEXTS = dict(_texts(json.loads(STRINGS.read_text(encoding="utf-8"))))


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("plain text", set()),
        ("The port {port} is {state}.", {"port", "state"}),
        ("The module's port", set()),
        ("It''s", set()),
        ("for example `'{{ value }}'`", set()),
        ("a '{literal}' and {real}", {"real"}),
        ("a stray } at the top level", set()),
        ("x < 3 and y > 2", set()),
    ],
)
def test_the_parser_accepts_what_the_frontend_formats(text: str, names: set[str]) -> None:
    assert parse_icu(text) == names


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("for example `{{ value }}`", "MALFORMED_ARGUMENT"),
        ("{ }", "EMPTY_ARGUMENT"),
        ("an open {brace", "EXPECT_ARGUMENT_CLOSING_BRACE"),
        ("{count, plural, one {#} other {#}}", "TYPED_ARGUMENT_NOT_USED_HERE"),
        ("<b>bold</b>", "INVALID_TAG"),
    ],
)
def test_the_parser_refuses_what_the_frontend_cannot_format(text: str, kind: str) -> None:
    with pytest.raises(IcuError) as caught:
        parse_icu(text)
    assert caught.value.kind == kind


def test_every_text_parses_as_an_icu_message() -> None:
    failures = {}
    for key, text in TEXTS.items():
        try:
            parse_icu(text)
        except IcuError as err:
            failures[key] = str(err)
    assert len(TEXTS) > 150  # the whole file was read
    assert failures == {}


def test_translations_en_is_strings_json() -> None:
    english = COMPONENT / "translations" / "en.json"
    assert english.read_text(encoding="utf-8") == STRINGS.read_text(encoding="utf-8")
