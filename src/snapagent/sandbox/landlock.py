"""Landlock: an unprivileged process gives up every file access but reading a few trees.

`restrict_to(read_only_paths)` creates a ruleset that handles every filesystem right the
kernel knows (ABI 1-5), allows reading files and listing directories under the given paths
only, and, where the kernel supports them, also refuses TCP bind/connect (ABI 4) and signals
or abstract unix sockets reaching outside the domain (ABI 6). It needs no privilege (only
no_new_privs), works in containers whose seccomp profile allows the three landlock calls, and
is inherited by every process forked afterwards.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterable

__all__ = ["LandlockUnavailableError", "abi_version", "restrict_to"]

_SYSCALLS = {
    "x86_64": (444, 445, 446),
    "aarch64": (444, 445, 446),
}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

_READ_FILE = 1 << 2
_READ_DIR = 1 << 3
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1}
_FS_ALL_V5 = (1 << 16) - 1  # ABI 5 adds IOCTL_DEV
_NET_ALL = (1 << 0) | (1 << 1)  # BIND_TCP, CONNECT_TCP (ABI 4)
_SCOPE_ALL = (1 << 0) | (1 << 1)  # ABSTRACT_UNIX_SOCKET, SIGNAL (ABI 6)


class LandlockUnavailableError(OSError):
    """The kernel (or a seccomp profile around us) does not offer Landlock."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded once, in the zygote, before any fork


def _libc() -> ctypes.CDLL:
    return _LIBC


def _numbers() -> tuple[int, int, int]:
    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None:
        raise LandlockUnavailableError(f"no Landlock system calls known for {platform.machine()}")
    return numbers


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is off or refused."""
    try:
        create, _, _ = _numbers()
    except LandlockUnavailableError:
        return 0
    version = _libc().syscall(create, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(int(version), 0)


def restrict_to(read_only_paths: Iterable[str]) -> int:
    """Allow only reading under ``read_only_paths`` from now on; return the ABI used."""
    abi = abi_version()
    if abi < 1:
        raise LandlockUnavailableError("Landlock is not available on this kernel")
    create, add_rule, restrict = _numbers()
    libc = _libc()
    fs = _FS_BY_ABI.get(abi, _FS_ALL_V5)
    attr = _RulesetAttr(fs, _NET_ALL if abi >= 4 else 0, _SCOPE_ALL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        raise LandlockUnavailableError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for path in read_only_paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a path that does not exist here has nothing to allow
            try:
                access = _READ_FILE | _READ_DIR if os.path.isdir(path) else _READ_FILE
                rule = _PathBeneathAttr(access, fd)
                if libc.syscall(add_rule, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0):
                    raise LandlockUnavailableError(ctypes.get_errno(), f"landlock rule {path}")
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockUnavailableError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if libc.syscall(restrict, ruleset, 0) != 0:
            raise LandlockUnavailableError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi
