#!/usr/bin/env python3
"""Write the API's OpenAPI schema, exactly as `create_app` builds it, to a file (or stdout).

    python scripts/dump_openapi.py console/openapi.json

The console's build generates its typed API client from this file, so a change to the API
that the console does not follow fails the console's type check at build time. The app is
built with a throwaway data directory: dumping the schema writes nothing where data lives.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print("usage: dump_openapi.py [OUTPUT.json]", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="snapagent-openapi-") as data_dir:
        os.environ["SNAPAGENT_DATA_DIR"] = data_dir
        from snapagent.api.app import create_app

        schema = create_app().openapi()
    text = json.dumps(schema, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
