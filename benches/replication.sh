#!/bin/bash
# Replication and `leadgate roi --postgres` over 1M generated leads (issue #17 benchmarks).
# Run as root from the repository after `cargo build --release`: starts a throwaway
# PostgreSQL cluster (as the postgres user) in $B, fills a node's store with
# `leadgate demo --scale $SCALE` while its events wait for PostgreSQL, times shipping them
# all, then times `leadgate roi --postgres` and compares it with the node's own report.
# LAG=1 also measures replication lag while ingesting (`cargo bench --bench load` with
# LEADGATE_BENCH_REPLICATE: 5k leads/s for 20 s, LEADGATE_BENCH_RATE and
# LEADGATE_BENCH_RATE_SECS to change); KEEP=1 leaves the cluster running for psql;
# SAVED=dir keeps the generated store there and later runs start from it (1 GB, 3 min).
set -e
BIN=${BIN:-$PWD/target/release/leadgate}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
B=${B:-/tmp/leadgate-replication-bench}
PORT=${PORT:-55432}
URL="postgres://postgres@127.0.0.1:$PORT/postgres"
SCALE=${SCALE:-1000000}
rm -rf $B; mkdir -p $B; chown postgres $B
runuser -u postgres -- $PGBIN/initdb -D $B/pg -A trust -U postgres >/dev/null
# The settings README "Several nodes" recommends for a node shipping a backlog
# (PG_SETTINGS= for initdb's defaults).
PG_SETTINGS=${PG_SETTINGS-"-c shared_buffers=1GB -c max_wal_size=4GB -c checkpoint_timeout=15min -c wal_compression=lz4"}
runuser -u postgres -- $PGBIN/pg_ctl -D $B/pg -o "-p $PORT -k $B -c listen_addresses=127.0.0.1 $PG_SETTINGS" -l $B/pglog start -w >/dev/null
echo "PostgreSQL settings: ${PG_SETTINGS:-initdb defaults}"
mkdir -p $B/data
# CPU-seconds of the cluster: the postmaster, its live processes, and those it reaped.
pg_cpu() {
  local pm; pm=$(head -1 $B/pg/postmaster.pid)
  { awk '{print $14+$15+$16+$17}' /proc/$pm/stat
    for c in $(ps --ppid $pm -o pid=); do awk '{print $14+$15}' /proc/$c/stat 2>/dev/null || true; done
  } | awk -v t="$(getconf CLK_TCK)" '{s+=$1} END {printf "%.1f", s/t}'
}
export LEADGATE_ADMIN_TOKEN=bench-token-0123456789abcdef0123456789
if [ -n "$SAVED" ] && [ -d "$SAVED" ]; then
  # Steps 1 and 2 as an earlier run left them (SAVED=dir keeps them for the next run).
  cp -r $SAVED/. $B/data/
else
  # 1. Register the replica consumer (and migrate), then stop.
  $BIN serve --data $B/data --listen 127.0.0.1:18099 --replicate $URL --node-id bench 2>$B/serve1.log &
  P=$!; sleep 3; kill -TERM $P; wait $P || true
  # 2. Generate the leads (their events wait in the outbox).
  /usr/bin/time -f "demo: %e s, %M KB" $BIN demo --scale $SCALE --data $B/data
  if [ -n "$SAVED" ]; then mkdir -p $SAVED; cp -r $B/data/. $SAVED/; fi
fi
# 3. Ship them: time until PostgreSQL has every event.
start=$(date +%s.%N); pg_before=$(pg_cpu)
$BIN serve --data $B/data --listen 127.0.0.1:18099 --replicate $URL --node-id bench 2>$B/serve2.log &
P=$!
while true; do
  sleep 1
  s=$(curl -s -H "Authorization: Bearer $LEADGATE_ADMIN_TOKEN" http://127.0.0.1:18099/api/replication || true)
  case "$s" in *'"lag_events":0'*'"state":"ok"'*|*'"state":"ok"'*'"lag_events":0'*) break;; esac
done
end=$(date +%s.%N); pg_after=$(pg_cpu)
node_cpu=$(awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($14+$15)/t}' /proc/$P/stat)
echo "status: $s"
kill -TERM $P; wait $P || true
echo "CPU-seconds while shipping: the node $node_cpu (its start included), PostgreSQL $(python3 -c "print(f'{$pg_after-$pg_before:.1f}')"); load average $(cut -d' ' -f1-3 /proc/loadavg)"
leads=$(runuser -u postgres -- $PGBIN/psql -h 127.0.0.1 -p $PORT -U postgres -At -c "select count(*) from leadgate.leads")
events=$(runuser -u postgres -- $PGBIN/psql -h 127.0.0.1 -p $PORT -U postgres -At -c "select seq from leadgate.nodes")
python3 -c "t=$end-$start; print(f'shipped {$leads} leads ({$events} events) in {t:.1f} s: {$leads/t:.0f} leads/s, {$events/t:.0f} events/s')"
# 4. The report over every node, last touch.
for i in 1 2 3; do
  /usr/bin/time -f "roi --postgres last_touch: %e s, %M KB" $BIN roi --postgres $URL --model last_touch --format json > $B/roi.json
done
/usr/bin/time -f "roi --data (one node) last_touch: %e s" $BIN roi --data $B/data --model last_touch --format json > $B/roi-node.json
cmp $B/roi.json $B/roi-node.json && echo "the PostgreSQL report equals the node's"
# 5. Lag while ingesting at a fixed rate, on a fresh node of its own.
if [ "${LAG:-0}" = 1 ]; then
  LEADGATE_BENCH_BIN=$BIN LEADGATE_BENCH_REPLICATE=$URL cargo bench --bench load 2>&1 | grep -A1 "^replication lag"
fi
if [ "${KEEP:-0}" = 1 ]; then
  echo "PostgreSQL still runs: psql -h 127.0.0.1 -p $PORT -U postgres"
else
  runuser -u postgres -- $PGBIN/pg_ctl -D $B/pg stop -m fast >/dev/null
fi
