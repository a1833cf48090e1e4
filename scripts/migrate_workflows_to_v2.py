#!/usr/bin/env python3
"""Migrate legacy (V1) bot workflows to V2 drafts - the seed's script name for
`snapagent migrate-workflows` (same options, same code, same exit codes).

    python scripts/migrate_workflows_to_v2.py --dry-run --verbose
    python scripts/migrate_workflows_to_v2.py --limit 10
    python scripts/migrate_workflows_to_v2.py --rollback --bot-id <bot id>
"""

from __future__ import annotations

import typer

from snapagent.cli.migrate import migrate_workflows

if __name__ == "__main__":
    typer.run(migrate_workflows)
