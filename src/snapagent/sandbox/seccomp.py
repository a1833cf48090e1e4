"""The seccomp filter of a sandboxed runner: the kernel refuses the calls that escape.

`runner_filter()` is a classic-BPF program, installed with ``PR_SET_SECCOMP`` after
``PR_SET_NO_NEW_PRIVS`` (no privilege is needed). It refuses, with ``EPERM``: every socket
(no network, loopback or outside, whatever the namespaces), creating processes or threads
(``clone``/``fork``/``vfork``/``clone3``) and ``execve``, signalling or tracing other processes,
reading or writing their memory, mounting and namespaces, io_uring (which bypasses seccomp),
BPF, perf, userfaultfd, keyrings, kernel modules, kexec, changing limits, the clock or the host
name, and opening files by handle. Anything else a Python interpreter needs (reading its own
standard library, allocating memory, writing to the pipe it was given) stays allowed; the other
layers (namespaces or Landlock, rlimits) bound those.

A process of an architecture we have no table for cannot be filtered, and the sandbox refuses
to run code there; on x86-64 the x32 system-call ABI is refused as a whole.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

__all__ = [
    "DENIED_SYSCALLS",
    "SeccompUnavailableError",
    "harden_worker",
    "install",
    "runner_filter",
    "worker_filter",
]

# Generated from the kernel headers (asm/unistd_64.h and asm-generic/unistd.h, used by arm64).
_X86_64: dict[str, int] = {
    "socket": 41,
    "socketpair": 53,
    "clone": 56,
    "fork": 57,
    "vfork": 58,
    "clone3": 435,
    "execve": 59,
    "execveat": 322,
    "kill": 62,
    "tkill": 200,
    "tgkill": 234,
    "pidfd_open": 434,
    "pidfd_send_signal": 424,
    "pidfd_getfd": 438,
    "rt_sigqueueinfo": 129,
    "rt_tgsigqueueinfo": 297,
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "process_madvise": 440,
    "kcmp": 312,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "chroot": 161,
    "unshare": 272,
    "setns": 308,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "bpf": 321,
    "perf_event_open": 298,
    "userfaultfd": 323,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "reboot": 169,
    "swapon": 167,
    "swapoff": 168,
    "acct": 163,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setrlimit": 160,
    "prlimit64": 302,
    "personality": 135,
    "quotactl": 179,
    "syslog": 103,
    "vhangup": 153,
    "mknod": 133,
    "mknodat": 259,
    "clock_settime": 227,
    "settimeofday": 164,
    "adjtimex": 159,
    "clock_adjtime": 305,
    "sethostname": 170,
    "setdomainname": 171,
    "mbind": 237,
    "migrate_pages": 256,
    "move_pages": 279,
    "fanotify_init": 300,
    "lookup_dcookie": 212,
    "uselib": 134,
    "iopl": 172,
    "ioperm": 173,
    "modify_ldt": 154,
    "_sysctl": 156,
}
_AARCH64: dict[str, int] = {
    "socket": 198,
    "socketpair": 199,
    "clone": 220,
    "clone3": 435,
    "execve": 221,
    "execveat": 281,
    "kill": 129,
    "tkill": 130,
    "tgkill": 131,
    "pidfd_open": 434,
    "pidfd_send_signal": 424,
    "pidfd_getfd": 438,
    "rt_sigqueueinfo": 138,
    "rt_tgsigqueueinfo": 240,
    "ptrace": 117,
    "process_vm_readv": 270,
    "process_vm_writev": 271,
    "process_madvise": 440,
    "kcmp": 272,
    "mount": 40,
    "umount2": 39,
    "pivot_root": 41,
    "chroot": 51,
    "unshare": 97,
    "setns": 268,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "bpf": 280,
    "perf_event_open": 241,
    "userfaultfd": 282,
    "keyctl": 219,
    "add_key": 217,
    "request_key": 218,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "init_module": 105,
    "finit_module": 273,
    "delete_module": 106,
    "kexec_load": 104,
    "kexec_file_load": 294,
    "reboot": 142,
    "swapon": 224,
    "swapoff": 225,
    "acct": 89,
    "name_to_handle_at": 264,
    "open_by_handle_at": 265,
    "setrlimit": 164,
    "prlimit64": 261,
    "personality": 92,
    "quotactl": 60,
    "syslog": 116,
    "vhangup": 58,
    "mknodat": 33,
    "clock_settime": 112,
    "settimeofday": 170,
    "adjtimex": 171,
    "clock_adjtime": 266,
    "sethostname": 161,
    "setdomainname": 162,
    "mbind": 235,
    "migrate_pages": 238,
    "move_pages": 239,
    "fanotify_init": 262,
    "lookup_dcookie": 18,
}

DENIED_SYSCALLS: tuple[str, ...] = tuple(_X86_64)
"""Names of the refused system calls (those an architecture lacks are skipped)."""

_AUDIT_ARCH = {"x86_64": (0xC000003E, _X86_64), "aarch64": (0xC00000B7, _AARCH64)}
_X32_SYSCALL_BIT = 0x40000000

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000
_OFFSET_NR = 0
_OFFSET_ARCH = 4

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


class SeccompUnavailableError(OSError):
    """No filter can be built or installed here (unknown architecture, kernel without it)."""


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


_WORKER_ALLOWED = frozenset({"clone", "fork", "vfork", "clone3", "setrlimit", "prlimit64"})
"""What an `IsolatedPool` worker keeps of the runner's refusals: threads and processes (some
parsers use them; the pool kills the whole process group) and re-arming its CPU limit."""


def runner_filter(machine: str | None = None) -> bytes:
    """The filter program for ``machine`` (default: this one) as packed ``sock_filter``s."""
    return _program(machine, frozenset())


def worker_filter(machine: str | None = None) -> bytes:
    """The looser filter for our own workers on hostile data: no network, no exec, no
    signals or tracing of other processes, no mounts - but threads and CPU re-arming."""
    return _program(machine, _WORKER_ALLOWED)


def harden_worker() -> dict[str, str]:
    """An `IsolatedPool` initializer: install `worker_filter` in the worker before it serves
    (``IsolatedPool(..., initializer=harden_worker)``), so a parser bug exploited by a hostile
    file cannot open a socket or start a program."""
    install(worker_filter())
    return {"seccomp": "worker"}


def _program(machine: str | None, allowed: frozenset[str]) -> bytes:
    machine = machine or platform.machine()
    if machine not in _AUDIT_ARCH:
        raise SeccompUnavailableError(f"no system-call table for architecture {machine!r}")
    arch, table = _AUDIT_ARCH[machine]
    numbers = sorted({number for name, number in table.items() if name not in allowed})
    x32 = machine == "x86_64"
    # Layout: load arch, check it, load nr, [x32 check], one jeq per number, allow, deny, kill.
    body: list[bytes] = []
    checks = len(numbers) + (1 if x32 else 0)
    body.append(_insn(_LD_W_ABS, 0, 0, _OFFSET_ARCH))
    body.append(_insn(_JEQ_K, 0, 1 + checks + 2, arch))  # wrong arch -> kill
    body.append(_insn(_LD_W_ABS, 0, 0, _OFFSET_NR))
    remaining = checks
    if x32:
        remaining -= 1
        body.append(_insn(_JGE_K, remaining + 1, 0, _X32_SYSCALL_BIT))
    for number in numbers:
        remaining -= 1
        body.append(_insn(_JEQ_K, remaining + 1, 0, number))
    body.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    body.append(_insn(_RET_K, 0, 0, _RET_ERRNO | errno.EPERM))
    body.append(_insn(_RET_K, 0, 0, _RET_KILL_PROCESS))
    return b"".join(body)


_LIBC = ctypes.CDLL(None, use_errno=True)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(program: bytes) -> None:
    """Set no_new_privs and install ``program`` on this (single-threaded) process."""
    libc = _LIBC
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SeccompUnavailableError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise SeccompUnavailableError(ctypes.get_errno(), "PR_SET_SECCOMP failed")
