"""The sandbox against attacks: each is contained, reported as a failure with a reason, and the
host is unharmed. Plus the plain cases: a correct program passes, output is captured."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from agent_forge.errors import UserInputError
from agent_forge.eval import sandbox
from agent_forge.eval.sandbox import SandboxLimits, run_python

REPO = Path(__file__).resolve().parents[2]


def _processes() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def _named(comm: str) -> list[int]:
    found = []
    for pid in _processes():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                found.append(pid)
        except OSError:
            pass
    return found


def _in_sandbox_uids() -> list[int]:
    span = range(sandbox.UID_BASE, sandbox.UID_BASE + sandbox.UID_SPAN)
    return [pid for pid in _processes() if sandbox._real_uid(pid) in span]


@pytest.fixture(scope="module")
def namespaces() -> bool:
    return run_python("pass").isolation.startswith("namespaces")


def test_correct_program_passes_and_stdout_is_captured():
    r = run_python("import sys\nprint('hello', sum(range(10)))\nprint('warn', file=sys.stderr)")
    assert (r.passed, r.reason, r.returncode) == (True, "ok", 0)
    assert r.stdout == "hello 45\n" and r.stderr == "warn\n"
    assert r.network in ("netns", "audit-hook") and r.duration_s < 2


def test_assertion_error_fails_with_exit_code_and_traceback():
    r = run_python("def f(x):\n    return x + 1\n\nassert f(1) == 3, 'wrong'\n")
    assert (r.passed, r.reason, r.returncode) == (False, "exit code 1", 1)
    assert "Traceback" in r.stderr and "AssertionError: wrong" in r.stderr


def test_hash_seed_is_fixed_and_work_dir_is_removed():
    code = (
        "import os\nprint(hash('agent-forge'))\nprint(os.getcwd())\nopen('f.txt', 'w').write('x')"
    )
    a, b = run_python(code), run_python(code)
    assert a.passed and a.stdout.split()[0] == b.stdout.split()[0]
    assert not Path(a.stdout.split()[1]).exists()


def test_infinite_loop_times_out():
    t = time.monotonic()
    r = run_python("while True:\n    pass\n", timeout_s=1.0)
    assert (r.passed, r.reason) == (False, "timeout")
    assert time.monotonic() - t < 3


def test_cpu_limit_kills_a_busy_program():
    r = run_python("while True:\n    pass\n", timeout_s=5.0, limits=SandboxLimits(cpu_seconds=1))
    assert not r.passed and r.reason.startswith("cpu time limit")
    assert r.duration_s < 3.5


def test_fork_bomb_is_contained_and_leaves_nothing_behind():
    comm = f"afb{uuid.uuid4().hex[:12]}"
    bomb = (
        "import ctypes, os\n"
        f"ctypes.CDLL(None).prctl(15, b'{comm}', 0, 0, 0)\n"
        "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    before = len(_processes())
    t = time.monotonic()
    r = run_python(bomb, timeout_s=1.0)
    assert not r.passed and r.reason == "timeout"
    assert time.monotonic() - t < 4
    assert _named(comm) == [] and _in_sandbox_uids() == []
    assert len(_processes()) <= before + 10  # other work on the machine may add a few


def test_fork_bomb_that_gives_up_fails_fast():
    r = run_python("import os\nwhile True:\n    os.fork()\n", timeout_s=3.0)
    assert not r.passed and r.reason == "exit code 1" and "BlockingIOError" in r.stderr
    assert r.duration_s < 2 and _in_sandbox_uids() == []


@pytest.mark.parametrize(
    "code", ["x = bytearray(4 * 1024**3)", "xs = []\nwhile True:\n    xs.append(bytearray(10**7))"]
)
def test_memory_bomb_hits_the_memory_limit(code):
    r = run_python(code, timeout_s=5.0)
    assert (r.passed, r.reason) == (False, "memory limit")
    assert "MemoryError" in r.stderr


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_flood_is_truncated_and_killed(stream):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code = f"import sys\nwhile True:\n    sys.{stream}.write('x' * 10000)\n"
    r = run_python(code, timeout_s=5.0)
    assert (r.passed, r.reason) == (False, "output limit") and r.duration_s < 2
    assert 0 < len(getattr(r, stream)) <= SandboxLimits().output_bytes
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 64 * 1024  # KiB


def test_writes_outside_its_directory_do_not_land(tmp_path, namespaces):
    canary_dir = REPO / "tests" / "eval" / f".sandbox-canary-{uuid.uuid4().hex}"
    canary_dir.mkdir()
    targets = [tmp_path / "escape.txt", canary_dir / "escape.txt", REPO / "escape-sandbox.txt"]
    if namespaces:  # /tmp is world-writable: only a private mount namespace keeps it clean
        targets.append(Path(f"/tmp/af-escape-{uuid.uuid4().hex}.txt"))
    code = f"import os\nfor p in {[str(p) for p in targets]!r}:\n"
    code += "    try:\n        open(p, 'w').write('pwned')\n    except OSError as e:\n"
    code += "        print(type(e).__name__)\nopen('mine.txt', 'w').write('fine')\nprint('done')\n"
    try:
        r = run_python(code)
        assert r.stdout.endswith("done\n")
        assert [p for p in targets if p.exists()] == []
    finally:
        shutil.rmtree(canary_dir, ignore_errors=True)
        for p in targets:
            p.unlink(missing_ok=True)


def test_deleting_project_files_fails(tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("keep me")
    copy = tmp_path / "items.py"
    shutil.copy(REPO / "agent_forge" / "eval" / "items.py", copy)
    repo_dir = REPO / "tests" / "eval" / f".sandbox-canary-{uuid.uuid4().hex}"
    repo_dir.mkdir()
    (repo_dir / "keep.txt").write_text("keep me")
    paths = [str(canary), str(copy), str(repo_dir / "keep.txt")]
    code = "import os, shutil\n"
    code += (
        f"for p in {paths!r}:\n    try:\n        os.remove(p)\n    except OSError:\n        pass\n"
    )
    code += f"for d in {[str(tmp_path), str(repo_dir)]!r}:\n"
    code += "    shutil.rmtree(d, ignore_errors=True)\n"
    try:
        run_python(code)
        assert canary.read_text() == "keep me" and copy.exists()
        assert (repo_dir / "keep.txt").read_text() == "keep me"
    finally:
        shutil.rmtree(repo_dir, ignore_errors=True)


def test_environment_secrets_are_not_inherited(monkeypatch):
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    monkeypatch.setenv("AF_TEST_SECRET", secret)
    code = (
        "import os\nprint(os.environ.get('AF_TEST_SECRET'))\nprint(sorted(os.environ))\n"
        f"try:\n    print(open('/proc/{os.getpid()}/environ', 'rb').read())\n"
        "except OSError as e:\n    print(type(e).__name__)\n"
    )
    r = run_python(code)
    assert r.passed and secret not in r.stdout and r.stdout.startswith("None\n")
    assert "AF_TEST_SECRET" not in r.stdout


def test_no_network_even_to_localhost():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        r = run_python(code)
        assert not r.passed and r.reason == "exit code 1"
        assert "Error" in r.stderr.strip().splitlines()[-1]
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected


def test_cannot_signal_the_parent():
    got: list[int] = []
    old = {s: signal.signal(s, lambda n, _: got.append(n)) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        pid = os.getpid()
        code = "import os, signal\n"
        code += (
            "for f, s in [(os.kill, signal.SIGTERM), (os.kill, signal.SIGINT), (os.killpg, 15)]:\n"
        )
        code += f"    try:\n        f({pid}, s)\n        print('sent')\n    except OSError as e:\n"
        code += "        print(type(e).__name__)\n"
        r = run_python(code)
        time.sleep(0.1)
        assert got == [] and "sent" not in r.stdout
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@pytest.mark.skipif(os.geteuid() != 0, reason="run uids exist only when the host is root")
def test_sweep_kills_escaped_processes_of_the_run_uid():
    uid = sandbox.UID_BASE + 12345
    proc = subprocess.Popen(["sleep", "30"], user=uid, group=uid, start_new_session=True)
    try:
        time.sleep(0.05)
        sandbox._sweep(uid)
        assert proc.wait(timeout=2) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()


def test_fallback_audit_hook_blocks_network_processes_and_ctypes(tmp_path):
    """Where namespaces are unavailable the program runs under this audit hook instead."""
    attempts = [
        "import socket; socket.socket()",
        "import os; os.fork()",
        "import subprocess; subprocess.run(['true'])",
        "import ctypes",
        "import os; os.kill(os.getppid(), 0)",
    ]
    for code in attempts:
        (tmp_path / "p.py").write_text(code)
        argv = [sys.executable, *sandbox.FLAGS, "-c", sandbox._RUNNER, "p.py"]
        r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=10)
        assert r.returncode == 1 and "PermissionError: sandbox:" in r.stderr, code
    (tmp_path / "p.py").write_text("print(sum(range(4)))")
    ok = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=10)
    assert ok.returncode == 0 and ok.stdout == "6\n"


def test_bad_limits_raise_typed_errors():
    with pytest.raises(UserInputError):
        SandboxLimits(memory_mb=0)
    with pytest.raises(UserInputError):
        run_python("pass", timeout_s=0)


def test_a_supervisor_reaped_by_someone_else_still_gives_its_result(monkeypatch):
    """Seen in the full suite: another thread's subprocess._cleanup reaped the supervisor (a
    reused pid), and waitid raised ECHILD. The run's report comes from its pipe, so the result
    must be the same."""

    def reaped(*args, **kwargs):
        raise ChildProcessError(10, "No child processes")

    monkeypatch.setattr(sandbox.os, "waitid", reaped)
    r = run_python("print(6 * 7)", timeout_s=5.0)
    assert r.passed and r.reason == "ok" and r.stdout.strip() == "42"
    r = run_python("raise SystemExit(3)", timeout_s=5.0)
    assert not r.passed and r.reason == "exit code 3"
