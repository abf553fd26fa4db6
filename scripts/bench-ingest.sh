#!/usr/bin/env bash
# Ingest benchmark: `clew all-in-one` (fresh data dir, every listener on loopback port 0)
# driven by `clew gen` over any protocol it speaks, with durability fsync or relaxed.
# Prints one markdown table row per run; raw gen reports and server logs go to $OUT.
# Usage: scripts/bench-ingest.sh [extra clew gen flags...]
#   env: CLEW_BIN (default target/release/clew), DURATION (default 15s), OUT,
#        RUNS (durability:protocol pairs; default the four OTLP runs)
# UDP has no acknowledgement: its "acked" figures are the spans the server counted as
# accepted on /metrics, "refused" is the spans lost before decoding, and latency is the time
# to send a batch's packets (not comparable, so shown as -).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CLEW_BIN:-target/release/clew}
duration=${DURATION:-15s}
out=${OUT:-target/bench-ingest/$(date +%Y%m%d-%H%M%S)}
runs=${RUNS:-"fsync:otlp-grpc fsync:otlp-http relaxed:otlp-grpc relaxed:otlp-http"}
tick=$(getconf CLK_TCK)
mkdir -p "$out"

# utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat;
# the command name in field 2 has no spaces here).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "clew: $("$bin" --version)  cpus: $(nproc)  duration: $duration  gen flags: ${*:-(defaults)}  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| durability | protocol | acked spans | acked spans/s | server CPU-s per 1M spans | gen CPU-s per 1M spans | server peak RSS MiB | WAL bytes/span | p50 ms | p99 ms | refused |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for run in $runs; do
  durability=${run%%:*}
  protocol=${run#*:}
  name="$durability-$protocol"
  data=$(mktemp -d "${TMPDIR:-/tmp}/clew-bench-XXXXXX")
  ready="$data/ready.json"
  listen=()
  for key in receivers.otlp.grpc_listen receivers.otlp.http_listen receivers.jaeger.grpc_listen \
    receivers.jaeger.http_listen receivers.jaeger.udp_compact_listen receivers.jaeger.udp_binary_listen \
    receivers.zipkin.listen sampling.http_listen sampling.grpc_listen query.listen admin.listen; do
    listen+=(--set "$key=127.0.0.1:0")
  done
  "$bin" all-in-one --ready-file "$ready" \
    --set data_dir="$data/data" --set storage.durability="$durability" "${listen[@]}" \
    >"$out/$name.server.log" 2>&1 &
  server=$!
  for _ in $(seq 200); do [ -s "$ready" ] && break; sleep 0.05; done
  [ -s "$ready" ] || { echo "server did not start; see $out/$name.server.log" >&2; exit 1; }
  case $protocol in
    jaeger-thrift-http) role=jaeger_http ;;
    zipkin-*) role=zipkin ;;
    *) role=${protocol//-/_} ;;
  esac
  addr() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$ready" "$1"; }
  endpoint=http://$(addr "$role")
  udp=
  case $protocol in jaeger-udp-*) udp=1; endpoint=$(addr "$role") ;; esac

  before=$(cpu_ticks "$server")
  /usr/bin/time -f "gen cpu: %U %S" -o "$out/$name.gen.time" \
    "$bin" gen --protocol "$protocol" --endpoint "$endpoint" --admin "http://$(addr admin)" \
    --duration "$duration" "$@" \
    >"$out/$name.report" 2>"$out/$name.gen.log"
  after=$(cpu_ticks "$server")
  hwm_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$server/status")
  wal_bytes=$(du -sb "$data/data" | cut -f1)
  kill -TERM "$server"
  wait "$server" || true

  r=$out/$name.report
  field() { sed -n "s/^$1: \([0-9.]*\).*/\1/p" "$r"; }
  if [ -n "$udp" ]; then
    acked=$(field "server udp spans accepted")
    rate=$(field "server accepted spans\/s")
    refused="lost $(field "udp spans lost before decoding")"
    p50=- p99=-
  else
    acked=$(field "spans acknowledged")
    rate=$(field "acknowledged spans\/s")
    refused=$(field "spans refused")
    p50=$(sed -n 's/.*p50 \([0-9.]*\).*/\1/p' "$r")
    p99=$(sed -n 's/.*p99 \([0-9.]*\).*/\1/p' "$r")
  fi
  gen_cpu=$(awk '/^gen cpu:/ {print $3 + $4}' "$out/$name.gen.time")
  awk -v d="$durability" -v p="$protocol" -v a="$acked" -v rate="$rate" \
    -v cpu="$(( after - before ))" -v tick="$tick" -v gcpu="$gen_cpu" -v hwm="$hwm_kib" \
    -v wal="$wal_bytes" -v p50="$p50" -v p99="$p99" -v ref="$refused" 'BEGIN {
      m = a / 1e6
      if (m == 0) { printf "| %s | %s | 0 | 0 | - | - | - | - | %s | %s | %s |\n", d, p, p50, p99, ref; exit }
      printf "| %s | %s | %d | %d | %.1f | %.1f | %.0f | %.0f | %s | %s | %s |\n",
        d, p, a, rate, (cpu / tick) / m, gcpu / m, hwm / 1024, wal / a, p50, p99, ref
    }'
  rm -rf "$data"
done
# Other work on the machine skews every figure: say how busy it was.
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "raw reports: $out"
