"""Runs the client scripts in tests/integration/clients under the virtual environment each
needs (target/py for current packages, target/py-legacy for protobuf-3 era clients)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = Path(__file__).resolve().parent / "clients"
LEGACY_PY = os.environ.get("CLEW_LEGACY_PY", str(ROOT / "target/py-legacy/bin/python"))


def run_client(script, *args, legacy=False, timeout=60):
    python = LEGACY_PY if legacy else sys.executable
    out = subprocess.run(
        [python, str(CLIENTS / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(CLIENTS),
    )
    assert out.returncode == 0, f"{script} {args} failed:\n{out.stderr[-4000:]}"
    return json.loads(out.stdout)
