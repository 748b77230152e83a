#!/usr/bin/env bash
# Durable ingest as a share of a bare hyper server, measured with wrk (README,
# "Performance"): the release `leadgate serve` on a fresh data dir with rate limits off,
# then the load bench's bare server (reads the body, answers 303), each driven by
# `wrk -t2 -cN -d${SECS}s -s benches/wrk_form.lua` at 16, 64 and 256 connections.
# Prints req/s, p99, the ratio, leadgate's peak RSS and the bytes written to the disk per
# lead. Each
# server gets a second of warm-up first (for leadgate: the file's first growth), not counted.
#
#   benches/wrk_ratio.sh [path/to/leadgate]
#   CONNS="16 64 256" SECS=5 VISITORS=scattered benches/wrk_ratio.sh
#
# Only 127.0.0.1; both servers are stopped when the script ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/leadgate}
conns=${CONNS:-16 64 256}
secs=${SECS:-5}
token=bench-admin-token-0123456789abcdef

command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet
bare=$(cargo bench --bench load --no-run 2>&1 | sed -n 's/.*Executable.*(\(.*\)).*/\1/p' | tail -1)
[ -x "$bare" ] || { echo "no load bench binary" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
  for pid_file in "$work"/*.pid; do
    [ -f "$pid_file" ] && kill "$(cat "$pid_file")" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Starts "$@" with its stderr in $work/$name.log, its pid in $work/$name.pid (it runs in
# a command substitution, so no variable of the caller's can keep it), and prints the
# address it listens on.
start() {
  local name=$1; shift
  "$@" 2>"$work/$name.log" >/dev/null &
  echo $! >"$work/$name.pid"
  for _ in $(seq 100); do
    addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$work/$name.log" | head -1)
    [ -n "$addr" ] && { echo "$addr"; return; }
    sleep 0.1
  done
  echo "$name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}

# wrk at $2 connections against http://$1/f/bench; prints "req/s p99_ms".
drive() {
  local out
  out=$(RUN=$run wrk -t2 -c"$2" -d"${secs}s" --latency -s benches/wrk_form.lua "http://$1/f/bench")
  if grep -q "Non-2xx" <<<"$out"; then echo "$out" >&2; echo "errors in the run" >&2; exit 1; fi
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; print v}' <<<"$out")
  echo "$rps $p99"
}

# Bytes written so far to the disk that holds the store (sectors written, from every
# process: a run's share on an otherwise idle machine). Not the server's `write_bytes` in
# /proc, which counts a whole large page-cache folio for each 4 KiB page dirtied in it.
written() { awk '{printf "%.0f\n", $7 * 512}' "/sys/dev/block/$(stat -c '%Hd:%Ld' "$work")/stat"; }

addr=$(LEADGATE_ADMIN_TOKEN=$token LEADGATE_LOG=warn,leadgate=info start leadgate "$bin" serve \
  --listen 127.0.0.1:0 --rate-limit off --global-rate-limit off --max-connections 10000 \
  --data "$work/data")
leadgate_pid=$(cat "$work/leadgate.pid")
curl -sf -o /dev/null -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"slug":"bench","name":"直播压测","kind":"livestream"}' "http://$addr/api/campaigns"
run=0
secs=1 drive "$addr" 64 >/dev/null
run=1
declare -A leadgate_rps leadgate_p99 kb_per_lead
for n in $conns; do
  before=$(written)
  read -r rps p99 < <(drive "$addr" "$n")
  after=$(written)
  leadgate_rps[$n]=$rps; leadgate_p99[$n]=$p99
  kb_per_lead[$n]=$(awk -v b="$((after - before))" -v r="$rps" -v s="$secs" 'BEGIN {printf "%.1f", b / (r * s) / 1000}')
  run=$((run + 1))
done
rss=$(awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$leadgate_pid/status")

bare_addr=$(LEADGATE_BENCH_BARE_SERVER=1 start bare "$bare")
secs=1 drive "$bare_addr" 64 >/dev/null
echo "wrk -t2, ${secs} s per run, POST /f/bench ~400 B forms (visitors: ${VISITORS:-sequential})"
echo "conns | leadgate req/s | p99 ms | KB to disk/lead | bare 303 req/s | bare p99 ms | ratio"
for n in $conns; do
  read -r bare_rps bare_p99 < <(drive "$bare_addr" "$n")
  awk -v n="$n" -v r="${leadgate_rps[$n]}" -v p="${leadgate_p99[$n]}" -v k="${kb_per_lead[$n]}" \
    -v br="$bare_rps" -v bp="$bare_p99" \
    'BEGIN {printf "%5d | %14.0f | %6.2f | %15s | %14.0f | %11.2f | %5.1f%%\n", n, r, p, k, br, bp, 100 * r / br}'
  run=$((run + 1))
done
echo "leadgate peak RSS: $rss MB"
