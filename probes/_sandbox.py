"""Confine a probe before it imports TensorFlow: writes, reads, network, signals.

Linux Landlock (through ctypes, no extra package) limits writes to the
folders the host names in COMPAT_MATRIX_WRITABLE, reads to the system
folders, this interpreter, the probes and COMPAT_MATRIX_READABLE (so a
model cannot read the user's home), TCP bind/connect to nothing (Landlock
ABI >= 4), and signals and abstract Unix sockets to this process tree
(ABI >= 6). Where the process may create a network namespace (root), it
gets an empty one, which cuts UDP and raw sockets as well. It runs before
any thread exists: both Landlock and namespaces apply to the calling thread
and the threads it creates later, never to threads already running.

Whatever the kernel cannot do is reported, not faked: `confine()` returns
what it enforced, and the host prints it.
"""

import ctypes
import os
import sys

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_NEWNET = 0x40000000

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_REMOVE_DIR, _REMOVE_FILE, _MAKE_CHAR, _MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
_MAKE_REG, _MAKE_SOCK, _MAKE_FIFO, _MAKE_BLOCK = 1 << 8, 1 << 9, 1 << 10, 1 << 11
_MAKE_SYM, _REFER, _TRUNCATE = 1 << 12, 1 << 13, 1 << 14
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

_READ = _EXECUTE | _READ_FILE | _READ_DIR
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE
# System folders a TensorFlow process reads; the user's home is not among
# them (only this interpreter and the host-named folders inside it are).
_SYSTEM = (
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/bin",
    "/sbin",
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/opt",
    "/run",
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def confine():
    """Apply what this kernel allows; return a description of it."""
    report = {"network": _isolate_network()}
    report.update(_landlock())
    return report


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _isolate_network():
    if os.environ.get("COMPAT_MATRIX_NETWORK") == "open":
        return "open (asked for)"
    if _libc().unshare(_CLONE_NEWNET) == 0:
        return "none (empty network namespace)"
    return "not isolated by namespace (%s)" % os.strerror(ctypes.get_errno())


def _folders(variable):
    return [p for p in os.environ.get(variable, "").split(os.pathsep) if p]


def _landlock():
    if os.environ.get("COMPAT_MATRIX_SANDBOX") == "off":
        return {"landlock": "off (asked for)"}
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(
        _SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION
    )
    if abi < 1:
        return {"landlock": "unavailable (%s)" % os.strerror(ctypes.get_errno())}
    write = (
        _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_CHAR | _MAKE_DIR | _MAKE_REG
    )
    write |= _MAKE_SOCK | _MAKE_FIFO | _MAKE_BLOCK | _MAKE_SYM
    write |= (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(_READ | write, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    ruleset = libc.syscall(
        _SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0
    )
    if ruleset < 0:
        return {"landlock": "refused (%s)" % os.strerror(ctypes.get_errno())}
    try:
        readable = (
            list(_SYSTEM) + _interpreter_folders() + _folders("COMPAT_MATRIX_READABLE")
        )
        for folder in readable:
            _allow(libc, ruleset, folder, _READ)
        for folder in _folders("COMPAT_MATRIX_WRITABLE"):
            _allow(libc, ruleset, folder, _READ | write)
        _allow(libc, ruleset, "/dev/null", _FILE_RIGHTS & (_READ | write))
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return {
                "landlock": "refused (no_new_privs: %s)"
                % os.strerror(ctypes.get_errno())
            }
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
            return {"landlock": "refused (%s)" % os.strerror(ctypes.get_errno())}
    finally:
        os.close(ruleset)
    return {
        "landlock": "ABI %d" % abi,
        "writes": "only %s" % ", ".join(_folders("COMPAT_MATRIX_WRITABLE")),
        "reads": "system folders, this interpreter, the probes, the output folder",
        "tcp": "denied" if abi >= 4 else "not confined (Landlock ABI < 4)",
        "signals": "this process tree only"
        if abi >= 6
        else "not confined (Landlock ABI < 6)",
    }


def _interpreter_folders():
    here = os.path.dirname(os.path.abspath(__file__))
    return sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, here})


def _allow(libc, ruleset, folder, access):
    try:
        fd = os.open(folder, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a folder this machine does not have
    try:
        if not os.path.isdir(folder):
            access &= _FILE_RIGHTS
        rule = _PathBeneath(access, fd)
        libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
    finally:
        os.close(fd)
