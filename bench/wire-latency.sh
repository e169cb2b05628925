#!/usr/bin/env bash
# What the generator adds to the latency it reports: a smoke run against
# a reference server on loopback, captured with tcpdump; tshark reads the
# capture and this script pairs every post on the wire (the client's INFO
# carrying the grpchat, whose marker names the post, and the server's 200)
# with when gcload intended it, sent it and saw its 200 (the run's
# accounting.gob.gz, read by bench/wirelatency). Per post, gcload's share
# is intended time -> INFO on the wire plus 200 on the wire -> seen; the
# rest of post_ack is the wire's (the server's) INFO -> 200. gcload's own
# post_ack and post_ack_service percentiles are printed beside.
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
  # when gcload intended, sent and saw acknowledged each post
  go run ./bench/wirelatency "$dir/results" >"$dir/posts.json"
  python3 - "$dir" "$port" <<'PY'
import json, re, sys
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

# the posts on the wire: the client's INFO carrying a grpchat, whose
# marker names the post's intended time (µs), and the server's 200
req, wire = {}, {}  # (call-id, cseq) -> (time, intended); intended -> (INFO time, 200 time)
marker = re.compile(r"gcl:[^:|]+:\d+:\d+:\d+:-?\d+:(\d+)\|")
for p in pkts:
    l = p["_source"]["layers"]
    t = float(find(l["frame"], "frame.time_epoch"))
    src = find(l["tcp"], "tcp.srcport")
    for m in pdus(l["sip"]):
        key = (find(m, "sip.Call-ID"), find(m, "sip.CSeq.seq"))
        if find(m, "sip.Method") == "INFO" and src != port:
            mk = marker.search(json.dumps(m))
            if mk:
                req[key] = (t, int(mk.group(1)))
        elif find(m, "sip.Status-Code") == "200" and find(m, "sip.CSeq.method") == "INFO" and src == port and key in req:
            ti, intended = req.pop(key)
            wire[intended] = (ti, t)

send, recv, share, onwire = [], [], [], []
for p in json.load(open(d + "/posts.json")):
    w = wire.get(p["intended"] // 1000)
    if not w:
        continue
    ti, tr = w[0] * 1e6, w[1] * 1e6  # µs
    send.append(ti - p["intended"] / 1e3)   # intended time -> INFO on the wire
    recv.append(p["acked"] / 1e3 - tr)      # 200 on the wire -> gcload saw it
    share.append(send[-1] + recv[-1])
    onwire.append(tr - ti)

def pct(a, q):
    a = sorted(a)
    return a[min(len(a) - 1, int(q / 100 * len(a)))] if a else float("nan")

ops = json.load(open(d + "/results/summary.json"))["ops"]
with open(d + "/wire-latency.txt", "w") as f:
    f.write("%-34s %6s %7s %7s %7s\n" % ("µs", "posts", "p50", "p90", "p99"))
    for name, a in (("wire: INFO -> 200", onwire), ("gcload: intended -> INFO on wire", send),
                    ("gcload: 200 on wire -> seen", recv), ("gcload's share (the two, per post)", share)):
        f.write("%-34s %6d %7.0f %7.0f %7.0f\n" % (name, len(a), pct(a, 50), pct(a, 90), pct(a, 99)))
    for op in ("post_ack", "post_ack_service"):
        o = ops.get(op)
        if o:
            f.write("%-34s %6d %7d %7d %7d\n" % ("gcload reports " + op, o["count"], o["p50_us"], o["p90_us"], o["p99_us"]))
print(open(d + "/wire-latency.txt").read(), end="")
PY
done

# the machine's floor: a plain TCP echo on loopback after the same kind of
# idle gap, no SIP in it (what a light load cannot get under here)
echo "== the machine's floor (go test -bench LoopbackAfterIdle ./sipnet/)"
go test -run '^$' -bench LoopbackAfterIdle -benchtime 200x ./sipnet/ | grep -E '^Benchmark'
