#!/bin/bash
# A node's history shipped the first time it replicates (#17; README "Several nodes").
# Usage, as root after `cargo build --release`: benches/replication_history.sh STORE_DIR
# where STORE_DIR holds a store that never replicated (`leadgate demo --scale 1000000
# --data STORE_DIR`). Copies it, starts a throwaway PostgreSQL cluster, serves the copy
# with --replicate while 4 clients post a form every 10 ms each for 40 s (POSTERS=0: none,
# the history alone), prints when
# PostgreSQL has every lead, the posts' latency and the server's peak RSS, then times
# `leadgate roi --postgres` three times. Stops by itself (at most 15 minutes).
set -e
STORE=${1:?usage: benches/replication_history.sh STORE_DIR}
BIN=${BIN:-$PWD/target/release/leadgate}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
B=${B:-/tmp/leadgate-history-bench}; PORT=${PORT:-55442}; URL="postgres://postgres@127.0.0.1:$PORT/postgres"
rm -rf $B; mkdir -p $B; chown postgres $B
runuser -u postgres -- $PGBIN/initdb -D $B/pg -A trust -U postgres >/dev/null
# The settings README "Several nodes" recommends for a node shipping a backlog
# (PG_SETTINGS= for initdb's defaults).
PG_SETTINGS=${PG_SETTINGS-"-c shared_buffers=1GB -c max_wal_size=4GB -c checkpoint_timeout=15min -c wal_compression=lz4"}
runuser -u postgres -- $PGBIN/pg_ctl -D $B/pg -o "-p $PORT -k $B -c listen_addresses=127.0.0.1 $PG_SETTINGS" -l $B/pglog start -w >/dev/null
echo "PostgreSQL settings: ${PG_SETTINGS:-initdb defaults}"
cp -a --sparse=always $STORE $B/data
# CPU-seconds of the cluster: the postmaster, its live processes, and those it reaped.
pg_cpu() {
  local pm; pm=$(head -1 $B/pg/postmaster.pid)
  { awk '{print $14+$15+$16+$17}' /proc/$pm/stat
    for c in $(ps --ppid $pm -o pid=); do awk '{print $14+$15}' /proc/$c/stat 2>/dev/null || true; done
  } | awk -v t="$(getconf CLK_TCK)" '{s+=$1} END {printf "%.1f", s/t}'
}
pg_before=$(pg_cpu)
HELD=$($BIN check --data $B/data 2>/dev/null | grep -o '^[0-9]* leads' | grep -o '[0-9]*')
export LEADGATE_ADMIN_TOKEN=bench-token-0123456789abcdef0123456789
start=$(date +%s.%N)
$BIN serve --data $B/data --listen 127.0.0.1:18399 --replicate $URL --node-id bench --rate-limit off --global-rate-limit off 2>$B/serve.log &
P=$!
# The node's events not yet in PostgreSQL (a large number while it does not answer).
lag_events() {
  curl -s -H "Authorization: Bearer $LEADGATE_ADMIN_TOKEN" 127.0.0.1:18399/api/replication \
    | python3 -c "import sys, json; print(json.load(sys.stdin)['lag_events'])" 2>/dev/null \
    || echo 999999999
}
for i in $(seq 100); do curl -s -o /dev/null 127.0.0.1:18399/healthz && break; sleep 0.2; done
# posts during the walk: POSTERS clients, latency per post
POSTERS=${POSTERS:-4} python3 - <<'PY' &
import http.client, threading, time, json, os
lat=[]; stop=time.time()+40
posters=int(os.environ["POSTERS"])
if posters == 0:
    raise SystemExit(print("no posts during the walk (POSTERS=0)"))
def w(t):
    c=http.client.HTTPConnection("127.0.0.1",18399)
    i=0
    while time.time()<stop:
        body="name=x&phone=137%08d&consent=on&_token=bf-%d-%d" % (t*1000000+i, t, i)
        s=time.time(); c.request("POST","/f/c0001",body=body,headers={"Content-Type":"application/x-www-form-urlencoded"}); r=c.getresponse(); r.read(); lat.append(time.time()-s); i+=1
        time.sleep(0.01)
ts=[threading.Thread(target=w,args=(t,)) for t in range(posters)]; [t.start() for t in ts]; [t.join() for t in ts]
lat.sort(); n=len(lat)
print(f"posts during the walk: {n}, p50 {lat[n//2]*1000:.1f} ms, p99 {lat[int(n*0.99)]*1000:.1f} ms, max {lat[-1]*1000:.1f} ms")
PY
L=$!
while true; do
  sleep 1
  # Counting a million rows every second would cost PostgreSQL CPU the shipping needs:
  # count only once the node says it is nearly through.
  lag=$(lag_events)
  n=0
  if [ "$lag" -lt 5000 ]; then
    n=$(runuser -u postgres -- $PGBIN/psql -h 127.0.0.1 -p $PORT -U postgres -At -c "select count(*) from leadgate.leads where node='bench' and received_at < current_date" 2>/dev/null || echo 0)
  fi
  t=$(python3 -c "print(f'{$(date +%s.%N)-$start:.0f}')")
  echo "t=${t}s events waiting $lag, pg leads $n"
  [ "$n" -ge "$HELD" ] && break
  [ "$t" -gt 900 ] && break
done
end=$(date +%s.%N)
pg_after=$(pg_cpu)
node_cpu=$(awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($14+$15)/t}' /proc/$P/stat)
wait $L || true
echo "CPU-seconds until then: PostgreSQL $(python3 -c "print(f'{$pg_after-$pg_before:.1f}')"), the node $node_cpu (its walk, the posts and shipping); load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 -c "print(f'history of {$HELD} leads in PostgreSQL after {$end-$start:.1f} s')"
grep VmHWM /proc/$P/status
# The rest of the history (the day counters come last) before the report is timed.
for i in $(seq 240); do
  lag=$(lag_events)
  [ "$lag" = 0 ] && break; sleep 0.5
done
python3 -c "print(f'every event of the node in PostgreSQL after {$(date +%s.%N)-$start:.1f} s')"
curl -s -H "Authorization: Bearer $LEADGATE_ADMIN_TOKEN" 127.0.0.1:18399/api/replication; echo
du -h --apparent-size $B/data/leadgate.redb; du -h $B/data/leadgate.redb
kill -TERM $P; wait $P || true
roi() { for i in 1 2 3; do /usr/bin/time -f "roi --postgres last_touch ($1): %e s, %M KB" $BIN roi --postgres $URL --model last_touch --format json > $B/roi.json; done; }
roi "right after shipping"
# What autovacuum does within minutes of a bulk load: without it the index-only scans of
# the touches still read heap pages (no visibility map yet).
/usr/bin/time -f "VACUUM ANALYZE: %e s" runuser -u postgres -- $PGBIN/psql -h 127.0.0.1 -p $PORT -U postgres -qc "VACUUM ANALYZE"
roi "vacuumed"
runuser -u postgres -- $PGBIN/pg_ctl -D $B/pg stop -m fast >/dev/null
[ -n "$KEEP" ] || rm -rf $B
