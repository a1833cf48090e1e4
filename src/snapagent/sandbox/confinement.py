"""Which isolation the zygote reaches, in order of preference, and what it reports.

- ``namespaces``: user/mount/PID/network/IPC/UTS/cgroup namespaces with a read-only view of the
  standard library only (`snapagent.sandbox.namespaces`), plus Landlock when the kernel has it.
- ``landlock``: when namespaces are refused (the default seccomp profile of Docker and most
  container runtimes refuses them to unprivileged processes): Landlock limits file access to
  reading the standard library, and as root every capability is dropped.
- otherwise the sandbox is **unavailable** and refuses to run code: seccomp and rlimits alone
  would leave the server's files readable.

Every level also gets, per runner, the seccomp filter (`snapagent.sandbox.seccomp`: no
sockets, no processes, no exec, no signals or tracing of others...) and the rlimits.
``SNAPAGENT_CODE_SANDBOX`` chooses: ``auto`` (namespaces, else landlock), ``namespaces`` or
``landlock`` (that level or refuse), ``off`` (refuse).
"""

from __future__ import annotations

import os
import sysconfig
from typing import Any

from snapagent.sandbox import landlock, namespaces, seccomp

__all__ = [
    "LEVELS",
    "SandboxUnavailable",
    "address_space_bytes",
    "confine_zygote",
    "read_only_paths",
]

LEVELS = ("namespaces", "landlock")


class SandboxUnavailable(Exception):
    """No acceptable isolation level can be reached here; the message says why."""


def read_only_paths() -> list[str]:
    """What user code may read: this interpreter's standard library and the time-zone data.
    Nothing else of the host (no /etc, /proc, /home, data directory, virtualenv)."""
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")}
    paths.add("/usr/share/zoneinfo")
    return sorted(p for p in paths if os.path.isdir(p))


def address_space_bytes() -> int:
    """This process's current address-space size (read before /proc disappears)."""
    try:
        with open("/proc/self/statm") as stream:
            pages = int(stream.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 256 * 1024 * 1024
    return pages * os.sysconf("SC_PAGE_SIZE")


def confine_zygote(config: dict[str, Any]) -> dict[str, Any]:
    """Confine this process as ``config["mode"]`` asks; the report of what was reached."""
    mode = config["mode"]
    paths = read_only_paths()
    if mode not in ("auto", *LEVELS):
        raise SandboxUnavailable(
            f"the code sandbox is switched off (SNAPAGENT_CODE_SANDBOX={mode})"
        )
    try:
        seccomp.runner_filter()
    except seccomp.SeccompUnavailableError as exc:
        raise SandboxUnavailable(f"no seccomp filter for this machine: {exc}") from None
    baseline = address_space_bytes()
    notes: list[str] = []
    if mode in ("auto", "namespaces"):
        try:
            namespaces.enter(paths, uid=int(config["uid"]), gid=int(config["gid"]))
        except (namespaces.NamespacesUnavailableError, OSError) as exc:
            if mode == "namespaces" or os.getpid() == 1:
                raise SandboxUnavailable(f"namespaces are unavailable: {exc}") from None
            notes.append(f"namespaces are unavailable: {exc}")
        else:
            if landlock.abi_version() >= 1:
                landlock.restrict_to(paths)
                notes.append("landlock is on as well")
            return {"level": "namespaces", "notes": notes, "baseline_bytes": baseline}
    try:
        if os.geteuid() == 0:
            namespaces.drop_capabilities()
        landlock.restrict_to(paths)
    except (landlock.LandlockUnavailableError, OSError) as exc:
        raise SandboxUnavailable(
            "neither namespaces nor Landlock are available, and seccomp alone would leave "
            f"the server's files readable ({exc})"
        ) from None
    return {"level": "landlock", "notes": notes, "baseline_bytes": baseline}
