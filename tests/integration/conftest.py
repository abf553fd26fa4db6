"""Starts the real clew binary on ephemeral loopback ports for integration tests."""

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

CLEW_BIN = os.environ.get("CLEW_BIN", str(Path(__file__).resolve().parents[2] / "target/debug/clew"))


def wait_until(predicate, timeout=20.0, interval=0.05, what="condition"):
    """Polls until predicate() is truthy; returns its value or fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


# Every listener Clew opens, all moved to ephemeral loopback ports for tests (shared with
# the UI tests).
LISTEN_KEYS = tuple(json.loads((Path(__file__).resolve().parent.parent / "listen-keys.json").read_text())["keys"])


class Clew:
    """One clew all-in-one process with its own data dir; restartable on the same dir."""

    def __init__(self, data_dir, extra_args=(), env=None):
        self.data_dir = Path(data_dir)
        self.extra_args = list(extra_args)
        # Extra environment for the process (e.g. CLEW_CRASH_AT); replaced, not merged, per start.
        self.env = dict(env or {})
        self.proc = None
        self.addrs = {}
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    def start(self):
        ready = self.data_dir.parent / f"{self.data_dir.name}.ready.json"
        if ready.exists():
            ready.unlink()
        args = [CLEW_BIN, "all-in-one", "--ready-file", str(ready)]
        for key in LISTEN_KEYS:
            args += ["--set", f"{key}=127.0.0.1:0"]
        args += ["--set", f"data_dir={self.data_dir}"] + self.extra_args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **self.env})

        def is_ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"clew exited with {self.proc.returncode}:\n{self.logs()}")
            return ready.exists() and ready.stat().st_size > 0

        wait_until(is_ready, what="clew to be ready")
        self.addrs = json.loads(ready.read_text())
        return self

    def logs(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, role):
        return f"http://{self.addrs[role]}"

    @property
    def query(self):
        return self.url("query")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode if self.proc else None
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
        return code

    def kill9(self):
        return self.stop(sig=signal.SIGKILL)

    def get(self, path, **kw):
        return requests.get(self.query + path, timeout=10, **kw)


@pytest.fixture
def clew_factory():
    started = []
    tmp = tempfile.TemporaryDirectory(prefix="clew-it-")

    def make(name="data", extra_args=(), env=None):
        c = Clew(Path(tmp.name) / name, extra_args, env)
        started.append(c)
        return c

    yield make
    for c in started:
        c.stop()
    tmp.cleanup()


@pytest.fixture
def clew(clew_factory):
    return clew_factory().start()
