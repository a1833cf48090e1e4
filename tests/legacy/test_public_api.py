"""The legacy package's public names are importable and listed."""

from __future__ import annotations

import snapagent.legacy as legacy


def test_all_is_unique_and_every_name_exists() -> None:
    assert len(set(legacy.__all__)) == len(legacy.__all__)
    for name in legacy.__all__:
        assert getattr(legacy, name) is not None
