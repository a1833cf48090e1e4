"""``python -m snapagent.sandbox``: start a zygote and print the isolation level reached here
(exit status 1 when code would be refused), then run one probe call.

    $ python -m snapagent.sandbox
    level: namespaces (landlock is on as well)
    javascript: yes
    probe: ok in 14.2 ms
"""

from __future__ import annotations

import asyncio
import sys
import time

from snapagent.sandbox.service import CodeSandbox
from snapagent.sandbox.settings import get_code_sandbox_settings


async def _check() -> int:
    sandbox = CodeSandbox(get_code_sandbox_settings())
    try:
        status = await sandbox.status()
        notes = f" ({'; '.join(status.notes)})" if status.notes else ""
        print(f"level: {status.level}{notes}")
        if status.level == "unavailable":
            print(f"reason: {status.reason}")
            return 1
        print(f"javascript: {'yes' if status.javascript else 'no'}")
        started = time.perf_counter()
        result = await sandbox.execute(
            "python3", "def main():\n    return {'ok': True}", {}, timeout_s=10
        )
        elapsed = (time.perf_counter() - started) * 1000
        print(f"probe: {'ok' if result == {'ok': True} else result} in {elapsed:.1f} ms")
        return 0
    finally:
        await sandbox.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(_check()))
