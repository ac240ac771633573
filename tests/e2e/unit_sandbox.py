#!/usr/bin/python3
"""Run a program under the restrictions its systemd unit declares, as far
as that can be done without systemd as PID 1, so that a test sees the
program live with them. Read from the unit, and applied as systemd applies
them:

  SystemCallFilter=        a seccomp allow-list (with @default, as systemd
                           adds it); anything else kills the process (SIGSYS)
  RestrictAddressFamilies= socket() of another family fails, EAFNOSUPPORT
  MemoryDenyWriteExecute=  writable and executable mappings fail, EPERM
  RestrictNamespaces=yes   unshare/setns/clone of namespaces fail; clone3
                           fails ENOSYS, so that libc falls back to clone
  LockPersonality=yes      personality() changes fail, EPERM
  NoNewPrivileges=yes      set by the seccomp filter's load
  CapabilityBoundingSet=   empty: every capability dropped from the bound
  UMask=                   the process umask
  ProtectSystem=strict     every mount read-only but the --writable paths
  ProtectProc=invisible,   a /proc of its own: other users' processes
  ProcSubset=pid           hidden, nothing but processes in it

and User=/Group=/SupplementaryGroups= as the --uid, --gid and --groups
given (the test's own ids). Not reproduced: ProtectHome, PrivateTmp,
PrivateDevices, the Protect{Kernel,Clock,Hostname,ControlGroups} knobs and
RestrictSUIDSGID (all deny access the programs do not seek; the test's
build may even live under a home directory).

Usage, as root:
  unshare --mount --propagation private unit_sandbox.py --unit FILE \\
      --uid N --gid N [--groups N,N] --writable DIR... -- PROGRAM ARGS...

Imported, it gives unit_settings() and allowed_syscalls() to the tests.
"""
import argparse
import ctypes
import errno
import functools
import os
import re
import subprocess
import sys

PR_CAPBSET_DROP = 24
PROT_WRITE, PROT_EXEC = 0x2, 0x4
SHM_EXEC = 0o100000
CLONE_NEW = {"newns": 0x00020000, "newcgroup": 0x02000000, "newuts": 0x04000000,
             "newipc": 0x08000000, "newuser": 0x10000000, "newpid": 0x20000000,
             "newnet": 0x40000000, "newtime": 0x00000080}
ADDRESS_FAMILIES = {"AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16}
AF_MAX = 46


def unit_settings(path):
    """{directive: [values]} of a unit file, in file order."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", ";", "[")) and "=" in line:
                key, value = line.split("=", 1)
                out.setdefault(key.strip(), []).append(value.strip())
    return out


@functools.lru_cache(maxsize=None)
def syscall_group(name):
    """The system calls of one systemd group, nested groups expanded."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                         text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        calls |= syscall_group(word) if word.startswith("@") else {word}
    return frozenset(calls)


def expand(names):
    out = set()
    for name in names:
        out |= syscall_group(name) if name.startswith("@") else {name}
    return out


def allowed_syscalls(settings):
    """The allow-list SystemCallFilter= lines make: the first line that is
    not a deny-list starts it with @default, `~` lines take away."""
    allowed = None
    for value in settings.get("SystemCallFilter", []):
        deny = value.startswith("~")
        names = expand(value.lstrip("~").split())
        if allowed is None:
            if deny:
                raise ValueError("a deny-list first: not what these units do")
            allowed = syscall_group("@default") | names
        elif deny:
            allowed -= names
        else:
            allowed |= names
    return allowed


def load_seccomp(settings):
    import seccomp

    # Several filters, as systemd loads them: the kernel takes the strictest
    # answer of all. The allow-list comes last, since seccomp() itself is
    # not on it.
    args = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    families = settings.get("RestrictAddressFamilies")
    if families:
        keep = {ADDRESS_FAMILIES[f] for f in " ".join(families).split()}
        for family in range(AF_MAX + 1):
            if family not in keep:
                args.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket",
                              seccomp.Arg(0, seccomp.EQ, family))
        args.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket",
                      seccomp.Arg(0, seccomp.GT, AF_MAX))
    if settings.get("MemoryDenyWriteExecute") == ["yes"]:
        wx = PROT_WRITE | PROT_EXEC
        args.add_rule(seccomp.ERRNO(errno.EPERM), "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, wx, wx))
        for call in ("mprotect", "pkey_mprotect"):
            args.add_rule(seccomp.ERRNO(errno.EPERM), call,
                          seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
        args.add_rule(seccomp.ERRNO(errno.EPERM), "shmat",
                      seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC))
    if settings.get("RestrictNamespaces") == ["yes"]:
        args.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        args.add_rule(seccomp.ERRNO(errno.EPERM), "setns")
        for flag in CLONE_NEW.values():
            for call in ("unshare", "clone"):
                args.add_rule(seccomp.ERRNO(errno.EPERM), call,
                              seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    if settings.get("LockPersonality") == ["yes"]:
        # As systemd: the current persona (PER_LINUX) only, not even a query.
        args.add_rule(seccomp.ERRNO(errno.EPERM), "personality", seccomp.Arg(0, seccomp.NE, 0))
    args.load()
    allowed = allowed_syscalls(settings)
    if allowed is not None:
        allow = seccomp.SyscallFilter(defaction=seccomp.KILL_PROCESS)
        for name in sorted(allowed):
            try:
                allow.add_rule(seccomp.ALLOW, name)
            except RuntimeError:
                pass  # not a system call of this kernel's libseccomp
        allow.load()


def mount_points():
    """Every mount point, deepest last, with mountinfo's octal escapes read."""
    with open("/proc/self/mountinfo") as f:
        points = {re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
                  for line in f}
    return sorted(points, key=len)


def protect_system(writable):
    """ProtectSystem=strict: a read-only view but for the writable paths,
    each made a mount of its own first so that it stays writable."""
    for path in writable:
        subprocess.run(["mount", "--bind", path, path], check=True)
    for point in mount_points():
        if point not in writable:
            # Some pseudo file systems refuse a remount; systemd skips those too.
            subprocess.run(["mount", "-o", "remount,bind,ro", point], capture_output=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--unit", required=True)
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--gid", type=int, required=True)
    parser.add_argument("--groups", default="")
    parser.add_argument("--writable", action="append", default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    opts = parser.parse_args()
    command = opts.command[1:] if opts.command[:1] == ["--"] else opts.command
    settings = unit_settings(opts.unit)
    libc = ctypes.CDLL(None, use_errno=True)

    if settings.get("ProtectSystem") == ["strict"]:
        protect_system([os.path.realpath(p) for p in opts.writable])
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last_cap = int(f.read())
    if settings.get("ProtectProc") == ["invisible"] and settings.get("ProcSubset") == ["pid"]:
        subprocess.run(["mount", "-t", "proc", "-o", "hidepid=invisible,subset=pid", "proc",
                        "/proc"], check=True)
    if settings.get("CapabilityBoundingSet") == [""]:
        for cap in range(last_cap + 1):
            if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                sys.exit(f"unit_sandbox: cannot drop capability {cap}")
    os.setgroups([int(g) for g in opts.groups.split(",") if g])
    os.setgid(opts.gid)
    os.setuid(opts.uid)  # from root: permitted and effective capabilities go
    if "UMask" in settings:
        os.umask(int(settings["UMask"][-1], 8))
    load_seccomp(settings)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
