"""Run model-written Python in a separate, locked-down interpreter; never in process.

A root-run supervisor puts the program in new mount, pid, network, IPC and UTS namespaces, drops
it to a throwaway uid, applies rlimits and kills the whole tree on a wall-clock timeout. Design,
limits, fallbacks and what is NOT protected: docs/eval/sandbox.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from agent_forge.errors import ForgeError, UserInputError

log = logging.getLogger(__name__)

PROGRAM = "program.py"
_TRY_NAMESPACES = True  # tests set False to exercise the fallback
UID_BASE, UID_SPAN = 1 << 30, 1 << 24  # as root each run gets its own uid from this range
FLAGS = ("-s", "-S", "-B", "-P")  # -I minus -E: the env is ours, so PYTHONHASHSEED=0 holds
MASKED = ("/tmp", "/var/tmp", "/dev/shm", "/run", "/root", "/home")  # fresh tmpfs in the sandbox


class SandboxError(ForgeError):
    """The sandbox itself could not be set up (not a failure of the program it runs)."""


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run resource limits (rlimits of the program, and the host's caps on its output)."""

    cpu_seconds: int = 5  # RLIMIT_CPU: killed at this much CPU time
    memory_mb: int = 512  # RLIMIT_AS: address space; Python raises MemoryError beyond it
    file_size_mb: int = 16  # RLIMIT_FSIZE: largest file it may write
    open_files: int = 64  # RLIMIT_NOFILE
    processes: int = 32  # RLIMIT_NPROC (per run: the run's own uid or user namespace)
    output_bytes: int = 64 * 1024  # stdout and stderr each; more and the run is killed
    tmpfs_mb: int = 32  # size of each private /tmp, /var/tmp, /dev/shm

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or value < 1:
                raise UserInputError(f"sandbox limit {name}={value!r} must be an integer >= 1")


@dataclass(frozen=True)
class SandboxResult:
    """`passed` is exit code 0 within every limit; `reason` says why not ("ok" when passed)."""

    passed: bool
    reason: str
    returncode: int | None  # exit code, or -N when killed by signal N; None if unknown
    stdout: str  # at most `output_bytes` of each stream
    stderr: str
    duration_s: float
    network: str  # "netns" (no interfaces at all) or "audit-hook" (the fallback)
    isolation: str  # e.g. "namespaces, uid 1073751234"


# The supervisor P0 (the caller's uid) unshares, forks P1 (pid 1 of the new pid namespace) and
# reports P1's wait status on fd `sfd`; it SIGKILLs P1 on SIGTERM or its own alarm, which ends
# the namespace. P1 sets up mounts, drops to `uid`, sets rlimits and execs the program.
_BOOT = (
    f"MASKED, FLAGS, PROGRAM = {MASKED!r}, {FLAGS!r}, {PROGRAM!r}\n"
    + r"""
import ctypes as c, os, resource, signal, sys
sfd, timeout, uid, limits, tmpfs_mb, try_ns, runner, *expose = sys.argv[1:]
uid, tmpfs = int(uid), f"size={tmpfs_mb}m"
NS, USERNS = 0x00020000 | 0x04000000 | 0x08000000 | 0x20000000 | 0x40000000, 0x10000000
libc = c.CDLL(None, use_errno=True)
status = os.fdopen(int(sfd), "w", buffering=1)
say = lambda k, v: status.write(f"{k}\t{v}\n")

def call(rc, what):
    if rc != 0:
        raise OSError(c.get_errno(), f"{what}: {os.strerror(c.get_errno())}")

def mount(src, dst, fstype=None, flags=6, data=None):  # 6: nosuid, nodev
    enc = lambda s: None if s is None else s.encode()
    call(libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)), f"mount {dst}")

def read_only_root():  # mount_setattr(2) (Linux >= 5.12): every mount read-only, recursively
    attr = (c.c_uint64 * 4)(1, 0, 0, 0)
    call(libc.syscall(c.c_long(442), c.c_int(-100), c.c_char_p(b"/"), c.c_uint(0x8000),
                      c.byref(attr), c.c_size_t(32)), "mount_setattr /")

def setup_mounts(userns):
    work = os.getcwd()
    with open(PROGRAM, "rb") as f:
        program = f.read()
    mount(None, "/", flags=16384 | (1 << 18))  # private: nothing propagates back to the host
    keep = [(p, os.open(p, os.O_PATH)) for p in expose]
    try:
        read_only_root()
    except OSError:
        if userns:  # same kernel uid as the caller: read-only is what protects its files
            raise
    for d in MASKED:
        if os.path.isdir(d) and not os.path.islink(d):
            tmp = "tmp" in d or "shm" in d
            mount("tmpfs", d, "tmpfs", data=f"{tmpfs},mode=1777" if tmp else "size=1m,mode=755")
    for p, fd in keep:  # the interpreter's prefixes, read-only, at their own paths
        os.makedirs(p, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", p, flags=4096 | 16384)  # bind, recursive
        os.close(fd)
    os.makedirs(work, exist_ok=True)
    mount("tmpfs", work, "tmpfs", data=f"{tmpfs},mode=700")  # size-capped working dir
    os.chdir(work)
    with open(PROGRAM, "wb") as f:
        f.write(program)
    try:
        mount("proc", "/proc", "proc", 14)  # this pid namespace's view: no host processes
    except OSError:
        pass

def drop():
    os.setgroups([])
    for u in (uid, 65534):  # a uid outside this container's uid map: fall back to nobody
        try:
            os.chown(".", u, u)
            os.setresgid(u, u, u)
            os.setresuid(u, u, u)
            return say("uid", u)
        except OSError:
            if u == 65534:
                raise

def child(ns, userns):
    if ns:
        setup_mounts(userns)
    if uid >= 0:
        drop()
    for spec in limits.split(","):
        name, value = spec.split("=")
        resource.setrlimit(getattr(resource, "RLIMIT_" + name), (int(value), int(value)))
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: no setuid binaries
    libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG = SIGKILL (set after the uid change clears it)
    argv = [sys.executable, *FLAGS] + ([PROGRAM] if ns else ["-c", runner, PROGRAM])
    os.set_inheritable(int(sfd), False)  # closed by a successful exec, kept to report a failure
    os.execv(sys.executable, argv)

def unshare():
    flags = (NS if os.geteuid() == 0 else NS | USERNS) if try_ns == "1" else 0
    ids = os.getuid(), os.getgid()  # before unshare: inside a new user namespace they read 65534
    if not flags or not hasattr(libc, "unshare") or libc.unshare(flags) != 0:
        return 0
    if flags & USERNS:  # map our own ids 1:1 (files need a mapped owner); exec drops the caps
        for name, line in (("setgroups", "deny"), ("uid_map", f"{ids[0]} {ids[0]} 1"),
                           ("gid_map", f"{ids[1]} {ids[1]} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(line)
    return flags

def main():
    os.umask(0o022)
    flags = unshare()
    user = " (user namespace)" if flags & USERNS else ""
    say("mode", f"namespaces{user}" if flags else "fallback")
    say("network", "netns" if flags else "audit-hook")
    pid = os.fork()
    if pid == 0:
        try:
            child(bool(flags), bool(flags & USERNS))
        except BaseException as e:
            say("error", f"{type(e).__name__}: {e} (python {sys.executable})".replace("\n", " "))
        os._exit(125)
    stop = lambda *_: os.kill(pid, signal.SIGKILL)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, float(timeout) + 1.0)  # even if the host is gone
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # unreaped: its pid stays ours to kill
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGALRM})
    _, st, ru = os.wait4(pid, 0)
    say("exit", st)
    say("cpu", ru.ru_utime + ru.ru_stime)

main()
"""
)

# Fallback without a network namespace: a Python-level audit hook (PEP 578) that refuses
# sockets, ctypes, new processes and signals. Weaker than a namespace: see the docs.
_RUNNER = r"""
import sys
DENY = ("socket.", "ctypes.", "os.fork", "os.exec", "os.spawn", "os.posix_spawn", "os.system",
        "os.kill", "os.killpg", "subprocess.", "pty.", "signal.pthread_kill", "os.forkpty")
MODULES = {"_socket", "_ctypes", "_posixsubprocess", "_multiprocessing"}

def hook(event, args):
    if (event.startswith(DENY) or (event == "import" and args[0] in MODULES)
            or (event == "open" and str(args[0]).startswith("/proc") and
                str(args[0]).endswith("/mem"))):
        what = f"import {args[0]}" if event == "import" else event
        raise PermissionError(f"sandbox: {what} is not allowed")

sys.addaudithook(hook)
path, sys.argv = sys.argv[1], sys.argv[1:]
with open(path, encoding="utf-8") as f:
    code = compile(f.read(), path, "exec")
exec(code, {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__})
"""


@lru_cache(maxsize=1)
def _exposed() -> tuple[str, ...]:
    """The interpreter's prefixes that lie under a masked directory (pyenv lives in /root)."""
    exe = os.path.realpath(sys.executable)
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths = {os.path.realpath(p) for p in paths} | {os.path.dirname(os.path.dirname(exe))}
    under = [p for p in paths if any(p == m or p.startswith(m + "/") for m in MASKED)]
    return tuple(sorted(under, key=len))


def _env(work: Path) -> dict[str, str]:
    """The whole environment of the program: nothing is inherited from the caller."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(work), "TMPDIR": str(work)}
    return env | {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}


def _rlimits(lim: SandboxLimits) -> str:
    mib = 1024 * 1024
    cpu, mem, fsize = lim.cpu_seconds, lim.memory_mb * mib, lim.file_size_mb * mib
    return f"CPU={cpu},AS={mem},FSIZE={fsize},NOFILE={lim.open_files},NPROC={lim.processes},CORE=0"


def run_python(
    code: str, *, timeout_s: float = 5.0, limits: SandboxLimits | None = None
) -> SandboxResult:
    """Run `code` as a program in the sandbox and wait for it (at most `timeout_s` seconds)."""
    if not 0 < timeout_s <= 3600:
        raise UserInputError(f"sandbox timeout_s={timeout_s!r} must be in (0, 3600]")
    limits = limits or SandboxLimits()
    work = Path(tempfile.mkdtemp(prefix="af-sandbox-"))
    try:
        (work / PROGRAM).write_text(code, encoding="utf-8")
        return _run(work, timeout_s, limits)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(work: Path, timeout_s: float, limits: SandboxLimits) -> SandboxResult:
    uid = UID_BASE + secrets.randbelow(UID_SPAN) if os.geteuid() == 0 else -1
    sr, sw = os.pipe()  # the supervisor's status lines: "key\tvalue"
    argv = [sys.executable, *FLAGS, "-c", _BOOT, str(sw), str(timeout_s), str(uid)]
    argv += [_rlimits(limits), str(limits.tmpfs_mb), str(int(_TRY_NAMESPACES)), _RUNNER]
    argv += _exposed()
    opts = {"cwd": work, "env": _env(work), "stdin": subprocess.DEVNULL, "pass_fds": (sw,)}
    pipe, start = subprocess.PIPE, time.monotonic()
    try:  # a new session: killpg reaches every descendant that did not leave it
        proc = subprocess.Popen(argv, stdout=pipe, stderr=pipe, start_new_session=True, **opts)
    except OSError as e:
        os.close(sr)
        raise SandboxError(f"cannot start the sandbox interpreter {sys.executable}: {e}") from e
    finally:
        os.close(sw)
    status: dict[str, str] = {}
    try:
        out, err, status, why = _collect(proc, sr, start + timeout_s, limits.output_bytes)
    finally:
        _stop(proc)
        _sweep(int(status.get("uid", uid)))
    duration = time.monotonic() - start
    if "error" in status or not (why or "exit" in status):
        what = status.get("error") or err.decode("utf-8", "replace").strip()[-300:]
        raise SandboxError(f"sandbox setup failed: {what} (see docs/eval/sandbox.md)")
    passed, reason, rc = _verdict(status, why, err, limits)
    mode, network = status.get("mode", "unknown"), status.get("network", "unknown")
    _log_mode(mode, network)
    isolation = f"{mode}, uid {status['uid']}" if "uid" in status else mode
    text = [b.decode("utf-8", "replace") for b in (out, err)]
    return SandboxResult(passed, reason, rc, text[0], text[1], duration, network, isolation)


def _collect(
    proc: subprocess.Popen, sr: int, deadline: float, cap: int
) -> tuple[bytes, bytes, dict[str, str], str]:
    """Read stdout, stderr and the status pipe until all close, the deadline or the cap."""
    assert proc.stdout is not None and proc.stderr is not None
    bufs = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray(), sr: bytearray()}
    sel = selectors.DefaultSelector()
    for fd in bufs:
        sel.register(fd, selectors.EVENT_READ)
    why, end = "", deadline
    try:
        while sel.get_map() and not why:
            left = end - time.monotonic()
            if left <= 0:
                why = "timeout" if end == deadline else ""
                break
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                bufs[key.fd] += chunk
                if not chunk:
                    sel.unregister(key.fd)
                    if key.fd == sr:  # the supervisor is done: stragglers get a short grace
                        end = min(end, time.monotonic() + 0.25)
                elif key.fd != sr and len(bufs[key.fd]) > cap:
                    why = "output limit"
    finally:
        sel.close()
        os.close(sr)
    lines = bufs.pop(sr).decode("utf-8", "replace").splitlines()
    status = dict(line.split("\t", 1) for line in lines if "\t" in line)
    out, err = (bytes(b[:cap]) for b in bufs.values())
    return out, err, status, why


def _stop(proc: subprocess.Popen) -> None:
    """Kill what is left: SIGTERM asks the supervisor to SIGKILL the namespace's init (which
    takes every process in the namespace with it); then SIGKILL the process group; then reap."""
    if not _exited(proc, 0.0):
        proc.send_signal(signal.SIGTERM)
        _exited(proc, 1.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # not reaped: pgid still ours
        os.killpg(proc.pid, signal.SIGKILL)
    for f in filter(None, (proc.stdout, proc.stderr)):  # not communicate(): stragglers hold them
        f.close()
    proc.wait()


def _exited(proc: subprocess.Popen, wait_s: float) -> bool:
    """Whether the supervisor has exited, polling up to `wait_s`, without reaping it."""
    end = time.monotonic() + wait_s
    while True:
        try:  # ChildProcessError: reaped elsewhere, so it had exited (its report is on the pipe)
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.005)


def _sweep(uid: int) -> None:
    """As root every run has its own uid: kill any process of it that escaped the group."""
    for _ in range(10 if UID_BASE <= uid < UID_BASE + UID_SPAN else 0):
        pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
        found = [pid for pid in pids if _real_uid(pid) == uid]
        for pid in found:
            try:
                fd = os.pidfd_open(pid)  # pins the process: no pid-reuse race from here on
            except ProcessLookupError:
                continue
            try:
                if _real_uid(pid) == uid:
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
            finally:
                os.close(fd)
        if not found:
            return
        log.warning("sandbox: killed %d stray processes of uid %d", len(found), uid)
        time.sleep(0.01)


def _real_uid(pid: int) -> int | None:
    """From /proc/<pid>/status (the directory's owner changes with PR_SET_DUMPABLE)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("Uid:"))
    except (OSError, StopIteration):
        return None


def _verdict(
    status: dict[str, str], why: str, stderr: bytes, limits: SandboxLimits
) -> tuple[bool, str, int | None]:
    """(passed, reason, returncode) from the program's wait status as the supervisor saw it."""
    rc = os.waitstatus_to_exitcode(int(status["exit"])) if "exit" in status else None
    if why or rc is None:
        return False, why, rc
    if rc >= 0:
        memory = stderr.rstrip().rsplit(b"\n", 1)[-1].startswith(b"MemoryError")
        reason = "ok" if rc == 0 else "memory limit" if memory else f"exit code {rc}"
        return rc == 0, reason, rc
    name = signal.Signals(-rc).name if -rc in signal.valid_signals() else str(-rc)
    cpu = float(status.get("cpu", 0.0))
    if -rc == signal.SIGXCPU or (-rc == signal.SIGKILL and cpu >= limits.cpu_seconds - 0.05):
        return False, f"cpu time limit (killed by signal {name})", rc
    return False, f"killed by signal {name}", rc


@lru_cache(maxsize=4)
def _log_mode(mode: str, network: str) -> None:
    """Say once per process how programs are isolated; a warning when it is the fallback."""
    level = logging.INFO if mode.startswith("namespaces") else logging.WARNING
    log.log(level, "sandbox isolation: %s; network: %s (docs/eval/sandbox.md)", mode, network)
