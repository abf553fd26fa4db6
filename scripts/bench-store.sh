#!/usr/bin/env bash
# Store benchmark: `clew bench-store write` fills a fresh data dir through the real store path
# (append in 500-span batches with relaxed durability, flush every storage.head_max_spans
# spans, then compaction with the configured window and cap) and `clew bench-store
# trace-by-id` reopens it and times lookups of written and absent trace ids.
# Prints each run's report; raw reports land in $OUT. Data dirs are deleted unless KEEP=1.
# Usage: scripts/bench-store.sh [extra `clew --set` flags, e.g. --set storage.head_max_spans=500000]
#        scripts/bench-store.sh steady [extra `clew gen` flags]
#   `steady`: a fresh `clew all-in-one` (default config, fsync) fed by `clew gen --rate $RATE`
#   (default 10000) for $DURATION (default 180s): server VmRSS every 2 s, VmHWM at the end, and
#   gen's per-request ack latency split into requests in flight near a flush or compaction
#   (from 5 s before to 1 s after the server logs it) and the rest.
#   env: CLEW_BIN (default target/release/clew), RUNS (profile:spans pairs; default
#        "clickhouse:10000000 high-cardinality:10000000"), LOOKUPS (default 2000),
#        WORK (where data dirs go; default target/bench-store-data: needs ~50 bytes per span
#        plus the WAL of one head), OUT, KEEP
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CLEW_BIN:-target/release/clew}
runs=${RUNS:-"clickhouse:10000000 high-cardinality:10000000"}
lookups=${LOOKUPS:-2000}
work=${WORK:-target/bench-store-data}
out=${OUT:-target/bench-store/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out" "$work"

steady() {
  local rate=${RATE:-10000} duration=${DURATION:-180s} data ready server sampler
  data=$(mktemp -d "$work/steady-XXXXXX")
  ready="$data/ready.json"
  local listen=()
  for key in receivers.otlp.grpc_listen receivers.otlp.http_listen receivers.jaeger.grpc_listen \
    receivers.jaeger.http_listen receivers.jaeger.udp_compact_listen receivers.jaeger.udp_binary_listen \
    receivers.zipkin.listen sampling.http_listen sampling.grpc_listen query.listen admin.listen; do
    listen+=(--set "$key=127.0.0.1:0")
  done
  echo "clew: $("$bin" --version)  cpus: $(nproc)  rate: $rate  duration: $duration  gen flags: ${*:-(defaults)}  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$bin" all-in-one --ready-file "$ready" --set data_dir="$data/data" "${listen[@]}" \
    >"$out/steady.server.log" 2>&1 &
  server=$!
  for _ in $(seq 200); do [ -s "$ready" ] && break; sleep 0.05; done
  [ -s "$ready" ] || { echo "server did not start; see $out/steady.server.log" >&2; exit 1; }
  addr() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$ready" "$1"; }
  # VmRSS every 2 s: epoch seconds, KiB.
  ( while kill -0 "$server" 2>/dev/null; do
      echo "$(date +%s.%N),$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status" 2>/dev/null)"
      sleep 2
    done ) >"$out/steady.rss.csv" &
  sampler=$!
  date +%s.%N >"$out/steady.gen.start"
  "$bin" gen --protocol otlp-grpc --endpoint "http://$(addr otlp_grpc)" --rate "$rate" \
    --duration "$duration" --latency-log "$out/steady.latency.csv" "$@" \
    >"$out/steady.report" 2>"$out/steady.gen.log"
  local hwm
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$server/status")
  kill -TERM "$server"; wait "$server" || true
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  cat "$out/steady.report"
  echo "server peak RSS (VmHWM): $(( hwm / 1024 )) MiB"
  python3 - "$out" <<'PY'
import csv, datetime, re, sys
out = sys.argv[1]
t0 = float(open(f"{out}/steady.gen.start").read())
rss = [(float(t) - t0, int(k)) for t, k in csv.reader(open(f"{out}/steady.rss.csv")) if k]
lat = [(float(s), float(ms), int(n)) for s, ms, n in csv.reader(open(f"{out}/steady.latency.csv"))]
events = []
ts = re.compile(r"^(\S+Z)\s")
for line in open(f"{out}/steady.server.log"):
    kind = "flush" if "flushed head to block" in line else "compaction" if "compacted blocks" in line else None
    m = ts.match(re.sub(r"\x1b\[[0-9;]*m", "", line))
    if kind and m:
        when = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() - t0
        events.append((when, kind))
print("server VmRSS over time (s since gen start: MiB):")
print("  " + ", ".join(f"{t:.0f}: {k // 1024}" for t, k in rss[:: max(1, len(rss) // 24)]))
print("events (s since gen start): " + ", ".join(f"{k} {t:.1f}" for t, k in events))
def pct(v, q):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(-(-q * len(v) // 1)) - 1))] if v else float("nan")
# An event is logged when its work ends, and a flush of 250k spans takes a few seconds:
# a request counts as "near" when it was in flight during [event - 5 s, event + 1 s].
near = [l for l in lat if any(t - 5 <= l[0] + l[1] / 1e3 and l[0] <= t + 1 for t, _ in events)]
far = [l for l in lat if l not in near]
for name, v in (("all", lat), ("near flush/compaction", near), ("elsewhere", far)):
    ms = [l[1] for l in v]
    print(f"ack latency {name}: {len(ms)} requests, p50 {pct(ms, .5):.2f} ms, p99 {pct(ms, .99):.2f} ms, max {max(ms, default=float('nan')):.2f} ms")
worst = sorted(lat, key=lambda l: -l[1])[:5]
print("slowest requests (sent at s, ms): " + ", ".join(f"{s:.1f}: {ms:.1f}" for s, ms, _ in worst))
PY
  [ "${KEEP:-0}" = 1 ] || rm -rf "$data"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "raw reports: $out"
}
if [ "${1:-}" = steady ]; then
  shift
  steady "$@"
  exit 0
fi

echo "clew: $("$bin" --version)  cpus: $(nproc)  flags: ${*:-(defaults)}  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
df -h "$work" | tail -1
for run in $runs; do
  profile=${run%%:*}
  spans=${run#*:}
  name="$profile-$spans"
  dir="$work/$name"
  rm -rf "$dir"
  echo "== $name: write"
  /usr/bin/time -f "cpu: user %U s, system %S s, wall %e s, max rss %M KiB" \
    "$bin" "$@" bench-store write --dir "$dir" --profile "$profile" --spans "$spans" \
    >"$out/$name.write" 2>"$out/$name.write.log"
  cat "$out/$name.write"
  tail -1 "$out/$name.write.log"
  echo "  blocks dir (du): $(du -sb "$dir/tenants" | cut -f1) bytes"
  echo "== $name: trace-by-id (warm page cache)"
  "$bin" "$@" bench-store trace-by-id --dir "$dir" --lookups "$lookups" >"$out/$name.lookup" 2>&1
  cat "$out/$name.lookup"
  [ "${KEEP:-0}" = 1 ] || rm -rf "$dir"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "raw reports: $out"
