#!/usr/bin/env bash
# What the generator adds to the latency it reports: a smoke run against
# a reference server on loopback, captured with tcpdump; tshark reads the
# capture and this script computes, for every post, the time from the
# client's INFO (the grpchat) to the server's 200 as seen on the wire, and
# compares its percentiles with gcload's post_ack (from the intended
# time) and post_ack_service (from the actual send).
#
#   bash bench/wire-latency.sh [RUNS] [extra gcload run flags...]
#   GCLOAD=path/to/gcload bash bench/wire-latency.sh ...   # another build (the generator and the server)
#
# Needs tcpdump and tshark (apt-get install tcpdump tshark) and root (or
# the capture capabilities) for tcpdump on the loopback interface. The
# server runs as its own process (gcload serve) so that the capture can be
# limited to its port; results go to results/wire-latency/. docs/performance.md
# has the method and the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-1}"
shift || true
for tool in tcpdump tshark python3; do
  command -v "$tool" >/dev/null || { echo "wire-latency: $tool is missing (apt-get install tcpdump tshark)" >&2; exit 2; }
done
out=results/wire-latency
mkdir -p "$out"
gcload="${GCLOAD:-}"
if [ -z "$gcload" ]; then
  go build -o "$out/gcload" ./cmd/gcload
  gcload="$out/gcload"
fi

cleanup() {
  [ -n "${dump:-}" ] && kill "$dump" 2>/dev/null && wait "$dump" 2>/dev/null || true
  [ -n "${serve:-}" ] && kill "$serve" 2>/dev/null && wait "$serve" 2>/dev/null || true
}
trap cleanup EXIT

for run in $(seq 1 "$runs"); do
  dir="$out/run-$run"
  rm -rf "$dir" && mkdir -p "$dir"
  # the server, on a port of its own
  "$gcload" serve --listen 127.0.0.1:0 --udp=false --admin 127.0.0.1:0 --db "$dir/gc.db" --log-level error >"$dir/serve.out" 2>&1 &
  serve=$!
  for _ in $(seq 100); do grep -q "SIP on" "$dir/serve.out" 2>/dev/null && break; sleep 0.1; done
  line=$(head -1 "$dir/serve.out")
  sip=$(sed -E 's/.*SIP on ([^ ,]+).*/\1/' <<<"$line")
  lookup=$(sed -E 's/.*lookup ([^ ,]+).*/\1/' <<<"$line")
  admin=$(sed -E 's/.*admin API ([^ ,]+).*/\1/' <<<"$line")
  port=${sip##*:}
  # the capture: whole packets, only the server's SIP port
  tcpdump -i lo -s 0 -U -w "$dir/capture.pcap" "tcp port $port" 2>"$dir/tcpdump.err" &
  dump=$!
  for _ in $(seq 100); do grep -q "listening on" "$dir/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
  "$gcload" run scenarios/smoke.yaml --target "$lookup" --server "$sip" --admin "$admin" --progress none --out "$dir/results" "$@" >"$dir/run.out" 2>&1 || true
  sleep 0.5
  kill "$dump"; wait "$dump" 2>/dev/null || true; dump=""
  kill "$serve"; wait "$serve" 2>/dev/null || true; serve=""

  # every SIP message, one per line: time, source port, method or status,
  # Call-ID, CSeq number and method, and whether the body is a post
  tshark -r "$dir/capture.pcap" -d "tcp.port==$port,sip" -Y sip -T json -J "frame tcp sip" >"$dir/sip.json" 2>/dev/null
  python3 - "$dir" "$port" <<'PY'
import json, sys
d, port = sys.argv[1], sys.argv[2]
pkts = json.load(open(d + "/sip.json"))

def pdus(layer):
    # a frame may carry several SIP messages: the sip layer is then a list
    return layer if isinstance(layer, list) else [layer]

def find(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            r = find(v, key)
            if r is not None:
                return r
    elif isinstance(obj, list):
        for v in obj:
            r = find(v, key)
            if r is not None:
                return r
    return None

req = {}   # (call-id, cseq) -> time of the client's post INFO
lat = []   # µs, INFO -> 200
for p in pkts:
    l = p["_source"]["layers"]
    t = float(find(l["frame"], "frame.time_epoch"))
    src = find(l["tcp"], "tcp.srcport")
    for m in pdus(l["sip"]):
        callid, seq = find(m, "sip.Call-ID"), find(m, "sip.CSeq.seq")
        method, status = find(m, "sip.Method"), find(m, "sip.Status-Code")
        cmethod = find(m, "sip.CSeq.method")
        if method == "INFO" and src != port and "grpchat" in json.dumps(m):
            req[(callid, seq)] = t
        elif status == "200" and cmethod == "INFO" and src == port and (callid, seq) in req:
            lat.append((t - req.pop((callid, seq))) * 1e6)

lat.sort()
def pct(q):
    return lat[min(len(lat) - 1, int(q / 100 * len(lat)))] if lat else float("nan")
s = json.load(open(d + "/results/summary.json"))
ops = s["ops"]
rows = [("wire INFO->200", len(lat), pct(50), pct(90), pct(99))]
for op in ("post_ack", "post_ack_service"):
    o = ops.get(op, {})
    if o:
        rows.append((op, o.get("count", 0), o.get("p50_us", 0), o.get("p90_us", 0), o.get("p99_us", 0)))
with open(d + "/wire-latency.txt", "w") as f:
    f.write("%-18s %6s %9s %9s %9s\n" % ("(µs)", "count", "p50", "p90", "p99"))
    for r in rows:
        f.write("%-18s %6d %9.0f %9.0f %9.0f\n" % r)
    w = rows[0]
    for r in rows[1:]:
        f.write("%s adds: p50 %+.0f µs, p99 %+.0f µs over the wire\n" % (r[0], r[2] - w[2], r[4] - w[4]))
print(open(d + "/wire-latency.txt").read(), end="")
PY
done

# the machine's floor: a plain TCP echo on loopback after the same kind of
# idle gap, no SIP in it (what a light load cannot get under here)
echo "== the machine's floor (go test -bench LoopbackAfterIdle ./sipnet/)"
go test -run '^$' -bench LoopbackAfterIdle -benchtime 200x ./sipnet/ | grep -E '^Benchmark'
