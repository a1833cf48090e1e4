"""YAML out: plain data -> readable, exact YAML (what `loading.load_document` reads back).

Multi-line texts (prompts, code) are written as literal blocks (``|``) where YAML can hold
them exactly, else quoted; keys keep their order; non-ASCII text stays readable.

    >>> dump_yaml({"prompt": "line one\\nline two\\n"})
    'prompt: |\\n  line one\\n  line two\\n'
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["dump_yaml"]

_BaseDumper: type[Any] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """The safe dumper, with literal blocks for multi-line text and no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: Any, data: str) -> Any:
    # The emitter falls back to a quoted style when a block cannot hold the text exactly.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def dump_yaml(data: Any) -> str:
    """``data`` (JSON-like) as YAML text."""
    text: str = yaml.dump(
        data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, default_flow_style=False,
        width=100,
    )  # fmt: skip
    return text
