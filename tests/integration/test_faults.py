"""Faults in the block layer: `kill -9` at every step of a flush and of a compaction (the
binary's CLEW_CRASH_AT crash points), damaged blocks, a full disk. After each, every
acknowledged span is there exactly once: in queries, and in what is stored."""

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import CLEW_BIN, wait_until
from otlp_json import json_trace
from test_durability import post, trace_span_ids

FLUSH_POINTS = [
    "flush.cut",
    "block.data_written",
    "block.bloom_written",
    "flush.block_written",
    "flush.wal_partly_released",
]
COMPACTION_POINTS = [
    "block.data_written",
    "block.bloom_written",
    "compact.block_written",
    "compact.old_partly_deleted",
]
# Small segments, so that a flush covers several and can be cut between their deletions.
SMALL_SEGMENTS = ["--set", "storage.wal_segment_max_bytes=2048"]


def send_traces(clew, service, n, spans=4):
    sent = {}
    for _ in range(n):
        body, tid, sids = json_trace(service, spans=spans)
        r = post(clew, body)
        assert r.status_code == 200, r.text
        sent[tid] = set(sids)
    return sent


def block_metas(clew, tenant="single-tenant"):
    blocks = Path(clew.data_dir) / "tenants" / tenant / "blocks"
    return [json.loads(m.read_text()) for m in sorted(blocks.glob("*/meta.json"))]


def stored_span_count(clew):
    """Spans in complete blocks after a flush of everything: what is stored, duplicates included."""
    r = requests.post(clew.url("admin") + "/flush", timeout=60)
    assert r.status_code == 200, r.text
    return sum(m["span_count"] for m in block_metas(clew))


def assert_exactly_once(clew, sent):
    for tid, sids in sent.items():
        assert trace_span_ids(clew, tid) == sids, tid
    # Not only deduplicated by reads: stored once.
    assert stored_span_count(clew) == sum(len(s) for s in sent.values())


def wait_for_crash(clew):
    clew.proc.wait(timeout=60)
    code = clew.proc.returncode
    clew.stop()
    assert code == -signal.SIGKILL, f"clew exited with {code}, not by SIGKILL:\n{clew.logs()}"
    assert "CLEW_CRASH_AT reached" in clew.logs()


@pytest.mark.parametrize("point", FLUSH_POINTS)
def test_kill_9_during_flush_loses_and_duplicates_nothing(clew_factory, point):
    clew = clew_factory(extra_args=SMALL_SEGMENTS, env={"CLEW_CRASH_AT": point}).start()
    sent = send_traces(clew, "crashy", 12)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(clew.url("admin") + "/flush", timeout=60)
    wait_for_crash(clew)

    clew.env = {}
    clew.start()
    assert_exactly_once(clew, sent)
    # and the store keeps working: more spans, another flush, a restart
    sent |= send_traces(clew, "crashy", 2)
    assert_exactly_once(clew, sent)
    clew.stop()
    clew.start()
    assert_exactly_once(clew, sent)


@pytest.mark.parametrize("point", COMPACTION_POINTS)
def test_kill_9_during_compaction_loses_and_duplicates_nothing(clew_factory, point):
    clew = clew_factory().start()
    sent = {}
    for _ in range(3):
        sent |= send_traces(clew, "compacty", 4)
        assert requests.post(clew.url("admin") + "/flush", timeout=60).json()["blocks"]
    assert len(block_metas(clew)) == 3
    clew.stop()

    # Compaction runs as the server starts: it crashes there, before or after it is ready.
    clew.env = {"CLEW_CRASH_AT": point}
    try:
        clew.start()
    except AssertionError:
        pass
    wait_for_crash(clew)

    clew.env = {}
    clew.start()
    wait_until(lambda: len(block_metas(clew)) == 1, what="compaction to finish after the restart")
    assert_exactly_once(clew, sent)
    assert not list((Path(clew.data_dir) / "tenants/single-tenant/blocks").glob("*/data.parquet"))[1:]


def only_block_dir(clew):
    [d] = [p for p in (Path(clew.data_dir) / "tenants/single-tenant/blocks").iterdir() if (p / "meta.json").exists()]
    return d


@pytest.mark.parametrize("damage", ["truncate-data", "garble-meta", "garble-bloom"])
def test_damaged_block_is_quarantined_and_the_rest_serves(clew_factory, damage):
    clew = clew_factory().start()
    lost = send_traces(clew, "damaged", 3)
    assert requests.post(clew.url("admin") + "/flush", timeout=60).json()["blocks"]
    bad = only_block_dir(clew)
    kept = send_traces(clew, "healthy", 3)
    assert requests.post(clew.url("admin") + "/flush", timeout=60).json()["blocks"]
    clew.stop()

    if damage == "truncate-data":
        data = bad / "data.parquet"
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif damage == "garble-meta":
        (bad / "meta.json").write_text("{ not json")
    else:
        (bad / "bloom").write_bytes(b"\x00" * 7)

    clew.start()
    quarantined = Path(clew.data_dir) / "tenants/single-tenant/quarantine" / bad.name
    assert quarantined.is_dir() and any(quarantined.iterdir()), clew.logs()
    assert not bad.exists() or not any(bad.iterdir())
    assert "quarantined a damaged block" in clew.logs()
    metrics = requests.get(clew.url("admin") + "/metrics", timeout=10).text
    assert 'clew_blocks_quarantined_total{tenant="single-tenant"} 1' in metrics
    listing = subprocess.run(
        [CLEW_BIN, "blocks", "--set", f"data_dir={clew.data_dir}"], capture_output=True, text=True, timeout=30
    )
    assert f"single-tenant/{bad.name}: damaged, quarantined" in listing.stdout, listing.stdout
    for tid, sids in kept.items():
        assert trace_span_ids(clew, tid) == sids
    for tid in lost:
        assert trace_span_ids(clew, tid) == set()
    # ingest and flush go on
    more = send_traces(clew, "healthy", 1)
    assert requests.post(clew.url("admin") + "/flush", timeout=60).status_code == 200
    for tid, sids in (kept | more).items():
        assert trace_span_ids(clew, tid) == sids


def test_block_damaged_while_serving_is_quarantined_on_read(clew_factory):
    clew = clew_factory().start()
    lost = send_traces(clew, "damaged", 2)
    assert requests.post(clew.url("admin") + "/flush", timeout=60).json()["blocks"]
    bad = only_block_dir(clew)
    kept = send_traces(clew, "healthy", 2)
    assert requests.post(clew.url("admin") + "/flush", timeout=60).json()["blocks"]
    data = bad / "data.parquet"
    size = data.stat().st_size
    # Overwrite the column data (not the footer, already read): pages no longer decode.
    with open(data, "r+b") as f:
        f.write(os.urandom(size // 2))
    tid = next(iter(lost))
    r = clew.get(f"/api/traces/{tid}")
    assert r.status_code in (200, 404), r.text
    wait_until(lambda: "quarantined a damaged block" in clew.logs(), what="the damaged block to be quarantined")
    for tid, sids in kept.items():
        assert trace_span_ids(clew, tid) == sids


def _mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def test_full_disk_pushes_back_loses_nothing_and_recovers(clew_factory, tmp_path):
    """The data dir on a small tmpfs: ingest until the disk is full (503, retryable), free
    space, and everything acknowledged is there; the server never stopped."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs and must run as root (scripts/test runs as root in CI)")
    mnt = tmp_path / "small"
    _mount_tmpfs(mnt, "3m")
    try:
        clew = clew_factory(extra_args=["--set", "storage.wal_segment_max_bytes=65536"])
        clew.data_dir = mnt / "data"
        clew.log_path = tmp_path / "clew.log"
        clew.start()
        acked = {}
        refused = None
        for _ in range(2000):
            body, tid, sids = json_trace("filler", spans=20)
            r = post(clew, body)
            if r.status_code == 200:
                acked[tid] = set(sids)
                continue
            refused = r
            break
        assert refused is not None, "the disk never filled"
        assert refused.status_code == 503, refused.text
        assert "Retry-After" in refused.headers
        assert "No space left" in refused.text or "space" in refused.text.lower(), refused.text
        # a flush cannot write its block either; the spans stay readable from the head
        r = requests.post(clew.url("admin") + "/flush", timeout=60)
        assert r.status_code == 500, r.text
        assert clew.proc.poll() is None
        sample = list(acked.items())[:: max(1, len(acked) // 20)]
        for tid, sids in sample:
            assert trace_span_ids(clew, tid) == sids

        # space returns
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        body, tid, sids = json_trace("filler", spans=3)
        wait_until(lambda: post(clew, body).status_code == 200, timeout=30, what="ingest to recover")
        acked[tid] = set(sids)
        r = requests.post(clew.url("admin") + "/flush", timeout=60)
        assert r.status_code == 200, r.text
        for tid, sids in acked.items():
            assert trace_span_ids(clew, tid) == sids
        clew.kill9()
        clew.start()
        for tid, sids in acked.items():
            assert trace_span_ids(clew, tid) == sids
        assert stored_span_count(clew) == sum(len(s) for s in acked.values())
        clew.stop()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        shutil.rmtree(mnt, ignore_errors=True)
