"""Import-path fix every bench script imports first: ``import _bootstrap  # noqa: F401``.

Run as ``python bench/<name>.py``, Python puts ``bench/`` first on ``sys.path``, where the HTTP
benchmark ``bench/http.py`` would shadow the standard library's ``http`` package (imported by
httpx, uvicorn, the provider SDKs, LangGraph...). This moves ``bench/`` to the end instead: the
standard library wins, the ``_``-prefixed helpers here still import.

Each script starts with the same two lines (``isort: split`` keeps it above the other imports,
which must not be loaded before the fix):

    import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)
    # isort: split
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

if "http" in sys.modules and Path(sys.modules["http"].__file__ or "").parent == BENCH:
    raise RuntimeError("bench/http.py was imported as the `http` package; import _bootstrap first")
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH)]
