"""Run the project's qemu-system-x86_64 in tests: start, talk QMP, watch the
serial port, stop -- every wait bounded, every failure a clear message.

Standard library only: Debian's python3 runs it, in CI and inside the rig.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


# qemu64 minus SSE3: some hosts' KVM (PVM) does not offer pni, so the default
# model prints a warning, and "-cpu host" trips an MSR the host rejects.
GUEST_CPU = "qemu64,pni=off"


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def wait_until(cond, timeout, timed_out, interval=0.1, gone=None):
    """Poll @cond until it returns a true value, and return that value.
    Fail with the message @gone() returns, once it returns one (what was
    waited on went away), or after @timeout seconds with the message
    @timed_out() returns.  @cond may raise TestFailure itself."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        why = gone() if gone else None
        if why:
            raise TestFailure(why)
        if time.monotonic() > deadline:
            raise TestFailure(timed_out())
        time.sleep(interval)


class Qemu:
    """One QEMU process with a QMP socket and COM1 written to a file."""

    def __init__(self, binary, args, name="qemu", qmp=True, defaults=True, prefix=()):
        """@defaults: add -nodefaults, no display and COM1 to a file.
        @prefix: a command that execs QEMU, e.g. ip netns exec NS."""
        check(os.access(binary, os.X_OK), f"no QEMU binary at {binary}: run ./configure")
        self.binary = binary
        self.name = name
        self.prefix = list(prefix)
        self.dir = tempfile.mkdtemp(prefix=f"mf-{name}-")
        self.serial_path = os.path.join(self.dir, "serial.log")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.qmp_path = os.path.join(self.dir, "qmp.sock") if qmp else None
        self.args = []
        if defaults:
            self.args += ["-nodefaults", "-no-user-config", "-display", "none",
                          "-serial", f"file:{self.serial_path}"]
        if qmp:
            self.args += ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        self.args += list(args)
        self.proc = None
        self._qmp = None
        self._qmp_buf = b""

    # -- process ------------------------------------------------------------
    def start(self):
        print("+", " ".join(self.prefix + [self.binary] + self.args), flush=True)
        self.proc = subprocess.Popen(
            self.prefix + [self.binary] + self.args,
            stdin=subprocess.DEVNULL,
            stdout=open(self.stdout_path, "wb"),
            stderr=open(self.stderr_path, "wb"),
            start_new_session=True)
        return self

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"QEMU still running after {timeout}s") from None

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def serial(self):
        try:
            with open(self.serial_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self._qmp:
            self._qmp.close()
            self._qmp = None

    def cleanup(self, keep=False):
        self.kill()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            print(f"--- QEMU stderr ({self.stderr_path}) ---\n{self.stderr()}"
                  f"--- serial ---\n{self.serial()}", flush=True)
        self.cleanup()
        return False

    # -- serial -------------------------------------------------------------
    def wait_serial(self, text, timeout):
        """Wait until COM1 has printed @text; fail if QEMU exits first."""
        self.wait_until(lambda: text in self.serial(), timeout,
                        f"the guest to print {text!r}",
                        lambda: f"the guest did not print {text!r} within {timeout}s",
                        interval=0.2)

    def wait_until(self, cond, timeout, waiting_for, timed_out, interval=0.1):
        """wait_until() below, failing also if QEMU exits first (saying it
        was @waiting_for, with its stderr)."""
        return wait_until(
            cond, timeout, timed_out, interval,
            gone=lambda: None if self.proc.poll() is None else
            f"{self.name}: QEMU exited with {self.proc.returncode} "
            f"while waiting for {waiting_for}; stderr:\n{self.stderr()}")

    # -- QMP ----------------------------------------------------------------
    def _qmp_connect(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.qmp_path)
                break
            except OSError:
                s.close()
                if self.proc.poll() is not None:
                    raise TestFailure(f"QEMU exited with {self.proc.returncode} before QMP "
                                      f"was up; stderr:\n{self.stderr()}") from None
                if time.monotonic() > deadline:
                    raise TestFailure(f"no QMP socket after {timeout}s") from None
                time.sleep(0.1)
        s.settimeout(timeout)
        self._qmp = s
        greeting = self._qmp_read()
        check("QMP" in greeting, f"unexpected QMP greeting {greeting}")
        self.qmp("qmp_capabilities")

    def _qmp_read(self):
        while b"\n" not in self._qmp_buf:
            chunk = self._qmp.recv(65536)
            if not chunk:
                raise TestFailure("QMP connection closed")
            self._qmp_buf += chunk
        line, self._qmp_buf = self._qmp_buf.split(b"\n", 1)
        return json.loads(line)

    def qmp(self, command, **arguments):
        """Run a QMP command; return its "return" value, fail on "error"."""
        if self._qmp is None:
            self._qmp_connect()
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self._qmp.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._qmp_read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise TestFailure(f"QMP {command} failed: {reply['error']}")
            return reply["return"]
