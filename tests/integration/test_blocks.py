"""Heads flushed into Parquet blocks: queries see every span exactly once before, during and
after a flush and across restarts; `clew blocks` lists them."""

import subprocess

import requests

from conftest import CLEW_BIN
from otlp_json import json_trace
from test_durability import post, trace_span_ids


def test_flush_then_restart_keeps_every_span_once(clew_factory):
    clew = clew_factory().start()
    sent = {}
    for _ in range(5):
        body, tid, sids = json_trace("blocky", spans=4)
        assert post(clew, body).status_code == 200
        sent[tid] = set(sids)
    r = requests.post(clew.url("admin") + "/flush", timeout=30)
    assert r.status_code == 200, r.text
    [block] = r.json()["blocks"]
    assert block["spans"] == 20 and block["traces"] == 5
    # after the flush: from the block
    for tid, sids in sent.items():
        assert trace_span_ids(clew, tid) == sids
    # more spans of one trace arrive after the flush: head and block merge
    tid = next(iter(sent))
    body, _, extra = json_trace("blocky", trace_id=tid, spans=2)
    assert post(clew, body).status_code == 200
    sent[tid] |= set(extra)
    assert trace_span_ids(clew, tid) == sent[tid]
    search = clew.get("/api/traces", params={"service": "blocky", "limit": 50}).json()["data"]
    assert sorted(t["traceID"] for t in search) == sorted(sent)
    assert "blocky" in clew.get("/api/services").json()["data"]

    clew.kill9()
    clew.start()
    for tid, sids in sent.items():
        assert trace_span_ids(clew, tid) == sids
    out = subprocess.run(
        [CLEW_BIN, "blocks", "--set", f"data_dir={clew.data_dir}"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert "1 blocks" in out.stdout and "blocky" in out.stdout, out.stdout


def test_duckdb_reads_a_block(clew_factory):
    import duckdb

    clew = clew_factory().start()
    body, tid, sids = json_trace("duck", spans=3)
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append(
        {"key": "http.route", "value": {"stringValue": "/ducks/{id}"}}
    )
    assert post(clew, body).status_code == 200
    assert requests.post(clew.url("admin") + "/flush", timeout=30).status_code == 200
    files = f"{clew.data_dir}/tenants/single-tenant/blocks/*/data.parquet"
    rows = duckdb.sql(
        f"SELECT lower(hex(trace_id)), lower(hex(span_id)), service_name, name, duration_nanos, http_route "
        f"FROM read_parquet('{files}') ORDER BY name"
    ).fetchall()
    assert [r[0] for r in rows] == [tid] * 3
    assert sorted(r[1] for r in rows) == sorted(sids)
    assert {r[2] for r in rows} == {"duck"}
    assert [r[3] for r in rows] == ["op-0", "op-1", "op-2"]
    assert rows[0][5] == "/ducks/{id}"
    # other attributes are typed key/value lists
    keys = duckdb.sql(
        f"SELECT DISTINCT a.key FROM read_parquet('{files}'), unnest(attributes) AS t(a) ORDER BY 1"
    ).fetchall()
    assert ("i",) in keys and ("nested",) in keys


def test_background_compaction_merges_blocks_of_a_window(clew_factory):
    from conftest import wait_until

    clew = clew_factory().start()
    sent = {}
    for _ in range(2):
        body, tid, sids = json_trace("compact-me", spans=3)
        assert post(clew, body).status_code == 200
        sent[tid] = set(sids)
        assert requests.post(clew.url("admin") + "/flush", timeout=30).json()["blocks"]
    # the first compaction round runs as the server starts
    clew.stop()
    clew.start()

    def one_block():
        out = subprocess.run(
            [CLEW_BIN, "blocks", "--set", f"data_dir={clew.data_dir}"], capture_output=True, text=True, timeout=30
        )
        return "1 blocks" in out.stdout

    wait_until(one_block, what="compaction to merge the two blocks")
    for tid, sids in sent.items():
        assert trace_span_ids(clew, tid) == sids


def test_retention_deletes_expired_blocks_and_reports_them(clew_factory):
    from conftest import wait_until

    clew = clew_factory(
        extra_args=["--set", "storage.retention_hours=24", "--set", "storage.maintenance_interval_seconds=1"]
    ).start()
    month = 30 * 24 * 3600 * 10**9
    body, old_tid, _ = json_trace("ancient", spans=3)
    for s in body["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        s["startTimeUnixNano"] = str(int(s["startTimeUnixNano"]) - month)
        s["endTimeUnixNano"] = str(int(s["endTimeUnixNano"]) - month)
    assert post(clew, body).status_code == 200
    assert requests.post(clew.url("admin") + "/flush", timeout=30).json()["blocks"]
    body, new_tid, new_sids = json_trace("recent", spans=2)
    assert post(clew, body).status_code == 200
    assert requests.post(clew.url("admin") + "/flush", timeout=30).json()["blocks"]

    def expired():
        metrics = requests.get(clew.url("admin") + "/metrics", timeout=10).text
        return 'clew_blocks_expired_total{tenant="single-tenant"} 1' in metrics

    wait_until(expired, what="retention to delete the month-old block")
    assert "retention removed an expired block" in clew.logs()
    assert trace_span_ids(clew, old_tid) == set()
    assert trace_span_ids(clew, new_tid) == set(new_sids)
    metas = list((clew.data_dir / "tenants/single-tenant/blocks").glob("*/meta.json"))
    assert len(metas) == 1
