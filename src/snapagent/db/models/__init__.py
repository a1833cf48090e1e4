"""Table models, one module per area (`accounts`, `knowledge`, ...).

`load_all_models()` imports every module in this package so `Base.metadata` is complete - Alembic
and the schema tests call it, so a new area's module needs no registration anywhere.
"""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy import MetaData

__all__ = ["load_all_models"]


def load_all_models() -> MetaData:
    """Import every model module and return the complete metadata."""
    from snapagent.db.base import Base

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return Base.metadata
