"""Acknowledged spans survive kill -9; a corrupt WAL tail is cut, reported, and every
good record kept; SIGTERM drains and exits cleanly."""

import concurrent.futures as cf
import threading
from pathlib import Path

import requests

from conftest import wait_until
from otlp_json import json_trace


def post(clew, body, headers=None):
    return requests.post(clew.url("otlp_http") + "/v1/traces", json=body, headers=headers or {}, timeout=30)


def trace_span_ids(clew, tid):
    r = clew.get(f"/api/traces/{tid}")
    if r.status_code != 200:
        return set()
    return {s["spanID"] for t in r.json()["data"] for s in t["spans"]}


def test_acknowledged_spans_survive_kill_9(clew_factory):
    clew = clew_factory().start()
    acked = {}
    lock = threading.Lock()
    stop = threading.Event()

    def sender(n):
        # bounded: at most 200 requests per sender
        for _ in range(200):
            if stop.is_set():
                return
            body, tid, sids = json_trace("crash", spans=5)
            try:
                r = post(clew, body)
            except requests.RequestException:
                return
            if r.status_code == 200:
                with lock:
                    acked[tid] = set(sids)

    with cf.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(sender, n) for n in range(4)]
        wait_until(lambda: len(acked) >= 40, what="40 acknowledged requests")
        clew.kill9()
        stop.set()
        for f in futures:
            f.result()

    assert len(acked) >= 40
    clew.start()
    for tid, sids in acked.items():
        assert trace_span_ids(clew, tid) == sids, f"trace {tid} lost spans after kill -9"


def test_corrupt_wal_tail_is_cut_and_good_records_kept(clew_factory):
    clew = clew_factory().start()
    kept = {}
    for _ in range(5):
        body, tid, sids = json_trace("tail", spans=4)
        assert post(clew, body).status_code == 200
        kept[tid] = set(sids)
    assert clew.stop() == 0
    segments = sorted(Path(clew.data_dir).rglob("*.wal"))
    assert segments, "no WAL segment written"
    last = segments[-1]
    size = last.stat().st_size
    with open(last, "ab") as f:
        # a torn record: a length prefix promising far more than follows
        f.write((5000).to_bytes(4, "little") + b"\x01\x02\x03\x04" + b"garbage")
    clew.start()
    for tid, sids in kept.items():
        assert trace_span_ids(clew, tid) == sids
    assert "cut" in clew.logs().lower() or "truncat" in clew.logs().lower(), clew.logs()[-3000:]
    assert last.stat().st_size == size, "the torn tail is cut back to the last good record"
    # and the server keeps accepting
    body, tid, sids = json_trace("tail", spans=2)
    assert post(clew, body).status_code == 200
    assert trace_span_ids(clew, tid) == set(sids)


def test_flipped_byte_in_last_record_keeps_earlier_records(clew_factory):
    clew = clew_factory().start()
    first, tid1, sids1 = json_trace("flip", spans=2)
    assert post(clew, first).status_code == 200
    second, tid2, _ = json_trace("flip", spans=2)
    assert post(clew, second).status_code == 200
    assert clew.stop() == 0
    last = sorted(Path(clew.data_dir).rglob("*.wal"))[-1]
    data = bytearray(last.read_bytes())
    data[-10] ^= 0xFF
    last.write_bytes(bytes(data))
    clew.start()
    assert trace_span_ids(clew, tid1) == set(sids1)
    assert trace_span_ids(clew, tid2) == set()


def test_sigterm_exits_cleanly_and_data_persists(clew_factory):
    clew = clew_factory().start()
    body, tid, sids = json_trace("term", spans=3)
    assert post(clew, body).status_code == 200
    assert clew.stop() == 0
    clew.start()
    assert trace_span_ids(clew, tid) == set(sids)
