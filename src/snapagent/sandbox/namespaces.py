"""Linux namespaces for the sandbox's zygote: a private, read-only view of a few directories,
no network, its own process tree, and no privilege left.

`enter(read_only_paths, uid, gid)` runs in the zygote before it serves anything:

1. ``unshare`` mount, network, IPC, UTS, PID and cgroup namespaces (as root directly; as any
   other user inside a new user namespace where it maps itself to root);
2. forks, because a new PID namespace applies to children: the child is PID 1 of the new tree
   and carries on; the original process only waits for it (and dies with it). If the pool kills
   the original, PR_SET_PDEATHSIG kills the child, and with PID 1 the whole tree;
3. builds a tmpfs root holding read-only bind mounts of ``read_only_paths`` (at the same paths,
   so tracebacks and imports keep working), ``pivot_root``s into it, detaches the old root and
   remounts the new one read-only: /etc, /proc, the data directory, the database, home
   directories and every other file of the host are simply not there;
4. gives up privilege: as root, switches to ``uid``/``gid`` (nobody by default: then even a
   file that leaked into view is readable only if world-readable); otherwise locks the
   securebits and drops every capability of the user namespace.

The new network namespace has only a loopback interface, down: nothing is reachable.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Iterable

__all__ = ["NamespacesUnavailableError", "drop_capabilities", "enter"]

_CLONE_NEWNS = 0x00020000
_CLONE_NEWCGROUP = 0x02000000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000

_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 2

_PR_SET_PDEATHSIG = 1
_PR_SET_SECUREBITS = 28
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_SECBITS_LOCKED_NOROOT = 0x3F  # NOROOT, NO_SETUID_FIXUP, KEEP_CAPS, each with its lock
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_LAST_CAP = 63

_NEW_ROOT = "/tmp"
"""Where the new root is assembled (a tmpfs mounted over it, only in our mount namespace)."""


class NamespacesUnavailableError(OSError):
    """The kernel, a container runtime or a seccomp profile refused the namespaces."""


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise NamespacesUnavailableError(code, f"{what}: {os.strerror(code)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(_bytes(source), target.encode(), _bytes(fstype), flags, data.encode()),
        f"mount {target}",
    )


def _bytes(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


def _write(path: str, text: str) -> None:
    with open(path, "w") as stream:
        stream.write(text)


def _unshare(root: bool) -> None:
    flags = _CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS | _CLONE_NEWPID
    flags |= _CLONE_NEWCGROUP
    if root:
        _check(_libc.unshare(flags), "unshare")
        return
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(flags | _CLONE_NEWUSER), "unshare (user namespace)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"0 {uid} 1")
    _write("/proc/self/gid_map", f"0 {gid} 1")


def _become_init() -> None:
    """Fork; the parent waits for the child and exits with its status, never returning."""
    child = os.fork()
    if child == 0:
        _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "PR_SET_PDEATHSIG")
        return
    # The original keeps no pipe open, so the pool sees EOF as soon as the child is gone.
    os.closerange(0, 65536)
    while True:
        try:
            _, status = os.waitpid(child, 0)
        except InterruptedError:
            continue
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _build_root(read_only_paths: Iterable[str]) -> None:
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    _mount("sandbox", _NEW_ROOT, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
    for path in read_only_paths:
        if not os.path.isdir(path):
            continue
        target = _NEW_ROOT + os.path.abspath(path)
        os.makedirs(target, exist_ok=True)
        _mount(path, target, None, _MS_BIND)
        _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    old = _NEW_ROOT + "/.old-root"
    os.makedirs(old, exist_ok=True)
    _check(_libc.syscall(155 if os.uname().machine == "x86_64" else 41,
                         _NEW_ROOT.encode(), old.encode()), "pivot_root")  # fmt: skip
    os.chdir("/")
    _check(_libc.umount2(b"/.old-root", _MNT_DETACH), "umount old root")
    os.rmdir("/.old-root")
    _mount(None, "/", None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)


def drop_capabilities() -> None:
    """Lock the securebits (uid 0 gains nothing by being 0) and drop every capability."""
    _check(_libc.prctl(_PR_SET_SECUREBITS, _SECBITS_LOCKED_NOROOT, 0, 0, 0), "securebits")
    for cap in range(_LAST_CAP + 1):
        _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # numbers this kernel lacks just fail
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")


def _drop_privileges(root: bool, uid: int, gid: int) -> None:
    if root:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # from uid 0 to another: every capability goes with it
        _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    else:
        drop_capabilities()


def enter(read_only_paths: Iterable[str], *, uid: int, gid: int) -> None:
    """Move this process into fresh namespaces (see the module docstring); raises
    `NamespacesUnavailableError` before forking if the kernel refuses."""
    root = os.geteuid() == 0
    _unshare(root)
    _become_init()
    # From here on we are PID 1 of the new tree: a failure can no longer fall back.
    _libc.sethostname(b"sandbox", 7)
    _build_root(read_only_paths)
    _drop_privileges(root, uid, gid)
