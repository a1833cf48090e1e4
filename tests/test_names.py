"""`clean_name`: what a stored name may not hide."""

from __future__ import annotations

import unicodedata

import pytest

from snapagent.errors import InputValidationError
from snapagent.names import clean_name, is_hidden_character, readable_name

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = "\u200b\u2060\ufeff\u00ad\u180e\U000e0041\u3164\u115f\u1160\uffa0"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("invoice\u202egnp.exe", "invoicegnp.exe"),  # shows as "invoiceexe.png" otherwise
        (f"ad{BIDI}min", "admin"),
        (f"a{INVISIBLE}b", "ab"),
        ("  two\t\tlines\nhere\r\n ", "two lines here"),
        ("\x1b[31mred\x1b[0m", "[31mred [0m"),  # a terminal escape loses its ESC
        ("연차 규정", "연차 규정"),
        (unicodedata.normalize("NFD", "연차 규정.pdf"), "연차 규정.pdf"),  # macOS file names
        ("👨\u200d👩\u200d👧 family", "👨\u200d👩\u200d👧 family"),  # ZWJ builds the emoji
        ("می\u200cخواهم", "می\u200cخواهم"),  # Persian needs ZWNJ
        ("Ünïcödé ok", "Ünïcödé ok"),
    ],
)
def test_clean_name(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean


def test_every_format_character_but_the_joiners_is_hidden() -> None:
    format_chars = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    assert len(format_chars) > 150
    kept = [c for c in format_chars if not is_hidden_character(c)]
    assert kept == ["\u200c", "\u200d"]


def test_nothing_visible_left_is_refused_naming_the_field() -> None:
    with pytest.raises(InputValidationError) as caught:
        readable_name(f" {BIDI}{INVISIBLE}\n", field="title")
    assert caught.value.field == "title"
    assert "visible characters" in caught.value.message
    with pytest.raises(InputValidationError, match="longer than 3"):
        readable_name("abcd", max_length=3)
    assert readable_name("abc\u200b", max_length=3) == "abc"
