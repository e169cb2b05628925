#!/usr/bin/env bash
# The generator comparison of issue 4: SIPp and gcload do the same work
# (bench/sipp/posts.xml and bench/sipp/gcload.yaml: per user REGISTER, the
# provisioning SUBSCRIBE, INVITE to the channel service, join of the user's
# own room, POSTS INFO posts one every INTERVAL ms, each answered 200 when
# durable and echoed back to its author, BYE, unREGISTER: 7 + 2 x POSTS SIP
# transactions) against one reference server, one after the other, at the
# same rate (N users signing in over 10 s, N x 1000/INTERVAL posts a
# second), both over one TCP connection (SIPp -t t1; gcload's shared
# connection model). The server's rooms file holds both generators' rooms
# and members, so neither provisions anything. Each generator's CPU
# seconds (user + system of its whole process, from /usr/bin/time) are
# reported per 1,000 transactions.
#
# Needs sipp (Debian package sip-tester). Loopback only.
# Parameters (environment): N users (1000), POSTS per user (50),
# INTERVAL ms between a user's posts (200); GCLOAD_ARGS extra flags for
# gcload run (e.g. --cpuprofile /tmp/gcload.prof).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
POSTS=${POSTS:-50}
INTERVAL=${INTERVAL:-200}
RATE=$(( (N + 9) / 10 ))
PPS=$(( N * 1000 / INTERVAL ))
STEADY_MS=$(( POSTS * INTERVAL ))
command -v sipp >/dev/null || { echo "compare.sh: sipp not found (apt-get install sip-tester)"; exit 1; }
go build -o bin/gcload ./cmd/gcload
tmp=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$tmp"' EXIT
{
  echo "rooms:"
  for i in $(seq 1 "$N"); do echo "  - {id: sipp-$i, name: sipp $i, members: [sip:sipp$i@example.com]}"; done
  # gcload's users and rooms (bench/sipp/gcload.yaml: user gclK alone in room gcl-K)
  for i in $(seq 0 $(( N - 1 ))); do echo "  - {id: gcl-$i, name: gcl $i, members: [sip:gcl$i@example.com]}"; done
} > "$tmp/rooms.yaml"
port=$(( 20000 + RANDOM % 20000 ))
bin/gcload serve --listen 127.0.0.1:$port --udp=false --db "$tmp/gc.db" --rooms "$tmp/rooms.yaml" > "$tmp/serve.log" 2>&1 &
srv=$!
for _ in $(seq 100); do grep -q "SIP on" "$tmp/serve.log" && break; sleep 0.1; done

cpu() { awk '{printf "%.2f", $1 + $2}' "$1"; }

echo "== SIPp: $N users at $RATE/s, $POSTS posts each every ${INTERVAL}ms ($PPS posts/s)"
( cd "$tmp" && /usr/bin/time -f "%U %S" -o "$tmp/sipp.time" sipp 127.0.0.1:$port -sf "$OLDPWD/bench/sipp/posts.xml" \
    -set posts "$POSTS" -d "$INTERVAL" -t t1 -max_socket $(( N + 100 )) -r "$RATE" -m "$N" -nostdin -trace_stat -fd 1 > "$tmp/sipp.out" 2>&1 )
col() { awk -F';' -v k="$1" 'NR==1{for(i=1;i<=NF;i++) if($i==k) c=i} END{print $c}' "$tmp"/posts_*_.csv; }
ok=$(col "SuccessfulCall(C)"); failed=$(col "FailedCall(C)")
echo "SIPp: $ok calls succeeded, $failed failed"

echo "== gcload: the same"
/usr/bin/time -f "%U %S" -o "$tmp/gcload.time" bin/gcload run bench/sipp/gcload.yaml --progress none \
  --target sip:ocschat@example.com --server 127.0.0.1:$port --out "$tmp/gcload-results" \
  --set users.count=$N --set rooms.classes[0].count=$N --set phases.signin.signin.rate=$RATE/s \
  --set phases.posts.duration=${STEADY_MS}ms --set phases.posts.posts.rate=$PPS/s \
  ${GCLOAD_ARGS:-} > "$tmp/gcload.out" 2>&1 || { cat "$tmp/gcload.out"; exit 1; }
grep -E "^(verdict|users|posts|deliveries)" "$tmp/gcload.out"

tx=$(( N * (7 + 2 * POSTS) ))
s=$(cpu "$tmp/sipp.time"); g=$(cpu "$tmp/gcload.time")
echo
printf "%-8s %12s %12s %30s\n" generator transactions "CPU seconds" "CPU seconds per 1,000 tx"
printf "%-8s %12d %12s %30s\n" SIPp "$tx" "$s" "$(awk -v c="$s" -v t="$tx" 'BEGIN{printf "%.4f", c*1000/t}')"
printf "%-8s %12d %12s %30s\n" gcload "$tx" "$g" "$(awk -v c="$g" -v t="$tx" 'BEGIN{printf "%.4f", c*1000/t}')"
[ "$ok" = "$N" ] || { echo "compare.sh: SIPp did not complete every call"; exit 1; }
