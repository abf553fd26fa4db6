#!/usr/bin/env bash
# UDP loss benchmark: a fresh `clew all-in-one` per offered rate (every listener on loopback
# port 0), `clew gen` sending Jaeger agent emitBatch packets at that rate, and the server's
# /metrics read before and after (clew gen --admin) for what arrived, was accepted or dropped.
# Prints one markdown table row per rate; raw reports and server logs go to $OUT.
# Usage: scripts/bench-udp-loss.sh [extra clew gen flags...]
#   env: CLEW_BIN (default target/release/clew), DURATION (default 10s), OUT,
#        PROTOCOL (default jaeger-udp-compact), RATES (spans/s; default "5000 10000 20000 40000 80000"),
#        DURABILITY (default fsync)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CLEW_BIN:-target/release/clew}
duration=${DURATION:-10s}
protocol=${PROTOCOL:-jaeger-udp-compact}
rates=${RATES:-"5000 10000 20000 40000 80000"}
durability=${DURABILITY:-fsync}
out=${OUT:-target/bench-udp-loss/$(date +%Y%m%d-%H%M%S)}
tick=$(getconf CLK_TCK)
mkdir -p "$out"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Machine-wide UDP receive-buffer overflows (the kernel's count of datagrams it dropped
# because a socket's buffer was full); other UDP users on the machine add to it.
rcvbuf_errors() { awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp; }

echo "clew: $("$bin" --version)  cpus: $(nproc)  protocol: $protocol  durability: $durability  duration: $duration  gen flags: ${*:-(defaults)}  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| offered spans/s | spans sent | packets sent | packets received | queue full | spans received | spans accepted | spans dropped | spans lost | loss % | kernel rcvbuf errors | server CPU-s per 1M accepted |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for rate in $rates; do
  name="$protocol-$rate"
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
  addr() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$ready" "$1"; }

  before=$(cpu_ticks "$server")
  kbefore=$(rcvbuf_errors)
  # clew gen waits (up to 30 s) for the server to deal with every packet it read.
  "$bin" gen --protocol "$protocol" --endpoint "$(addr "${protocol//-/_}")" \
    --admin "http://$(addr admin)" --rate "$rate" --duration "$duration" "$@" \
    >"$out/$name.report" 2>"$out/$name.gen.log" || true
  after=$(cpu_ticks "$server")
  kafter=$(rcvbuf_errors)
  kill -TERM "$server"
  wait "$server" || true

  r=$out/$name.report
  field() { sed -n "s/^$1: \([0-9.]*\).*/\1/p" "$r"; }
  awk -v rate="$rate" -v sent="$(field "spans sent in packets")" -v pk="$(field "udp packets sent")" \
    -v pr="$(field "server udp packets received")" -v qf="$(field "server udp packets queue full")" \
    -v sr="$(field "server udp spans received")" -v sa="$(field "server udp spans accepted")" \
    -v sd="$(field "server udp spans dropped")" -v lost="$(field "udp spans lost before decoding")" \
    -v kerr="$(( kafter - kbefore ))" -v cpu="$(( after - before ))" -v tick="$tick" 'BEGIN {
      cpm = sa > 0 ? sprintf("%.1f", (cpu / tick) / (sa / 1e6)) : "-"
      loss = sent > 0 ? 100 * (sent - sa) / sent : 0
      printf "| %d | %d | %d | %d | %d | %d | %d | %d | %d | %.2f | %d | %s |\n",
        rate, sent, pk, pr, qf, sr, sa, sd, lost, loss, kerr, cpm
    }'
  rm -rf "$data"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "raw reports: $out"
