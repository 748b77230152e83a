#!/bin/bash
# A node's history shipped the first time it replicates (#17; README "Several nodes").
# Usage, as root after `cargo build --release`: benches/replication_history.sh STORE_DIR
# where STORE_DIR holds a store that never replicated (`leadgate demo --scale 1000000
# --data STORE_DIR`). Copies it, starts a throwaway PostgreSQL cluster, serves the copy
# with --replicate while 4 clients post a form every 10 ms each for 40 s, prints when
# PostgreSQL has every lead, the posts' latency and the server's peak RSS, then times
# `leadgate roi --postgres` three times. Stops by itself (at most 15 minutes).
set -e
STORE=${1:?usage: benches/replication_history.sh STORE_DIR}
BIN=${BIN:-$PWD/target/release/leadgate}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
B=${B:-/tmp/leadgate-history-bench}; PORT=${PORT:-55442}; URL="postgres://postgres@127.0.0.1:$PORT/postgres"
rm -rf $B; mkdir -p $B; chown postgres $B
runuser -u postgres -- $PGBIN/initdb -D $B/pg -A trust -U postgres >/dev/null
runuser -u postgres -- $PGBIN/pg_ctl -D $B/pg -o "-p $PORT -k $B -c listen_addresses=127.0.0.1" -l $B/pglog start -w >/dev/null
cp -a --sparse=always $STORE $B/data
HELD=$($BIN check --data $B/data 2>/dev/null | grep -o '^[0-9]* leads' | grep -o '[0-9]*')
export LEADGATE_ADMIN_TOKEN=bench-token-0123456789abcdef0123456789
start=$(date +%s.%N)
$BIN serve --data $B/data --listen 127.0.0.1:18399 --replicate $URL --node-id bench --rate-limit off --global-rate-limit off 2>$B/serve.log &
P=$!
for i in $(seq 100); do curl -s -o /dev/null 127.0.0.1:18399/healthz && break; sleep 0.2; done
# posts during the walk: 4 clients, latency per post
python3 - <<'PY' &
import http.client, threading, time, json
lat=[]; stop=time.time()+40
def w(t):
    c=http.client.HTTPConnection("127.0.0.1",18399)
    i=0
    while time.time()<stop:
        body="name=x&phone=137%08d&consent=on&_token=bf-%d-%d" % (t*1000000+i, t, i)
        s=time.time(); c.request("POST","/f/c0001",body=body,headers={"Content-Type":"application/x-www-form-urlencoded"}); r=c.getresponse(); r.read(); lat.append(time.time()-s); i+=1
        time.sleep(0.01)
ts=[threading.Thread(target=w,args=(t,)) for t in range(4)]; [t.start() for t in ts]; [t.join() for t in ts]
lat.sort(); n=len(lat)
print(f"posts during the walk: {n}, p50 {lat[n//2]*1000:.1f} ms, p99 {lat[int(n*0.99)]*1000:.1f} ms, max {lat[-1]*1000:.1f} ms")
PY
L=$!
while true; do
  sleep 1
  n=$(runuser -u postgres -- $PGBIN/psql -h 127.0.0.1 -p $PORT -U postgres -At -c "select count(*) from leadgate.leads where node='bench' and received_at < current_date" 2>/dev/null || echo 0)
  t=$(python3 -c "print(f'{$(date +%s.%N)-$start:.0f}')")
  echo "t=${t}s pg leads $n"
  [ "$n" -ge "$HELD" ] && break
  [ "$t" -gt 900 ] && break
done
end=$(date +%s.%N)
wait $L || true
python3 -c "print(f'history of {$HELD} leads in PostgreSQL after {$end-$start:.1f} s')"
grep VmHWM /proc/$P/status
curl -s -H "Authorization: Bearer $LEADGATE_ADMIN_TOKEN" 127.0.0.1:18399/api/replication; echo
du -h --apparent-size $B/data/leadgate.redb; du -h $B/data/leadgate.redb
kill -TERM $P; wait $P || true
for i in 1 2 3; do /usr/bin/time -f "roi --postgres last_touch: %e s, %M KB" $BIN roi --postgres $URL --model last_touch --format json > $B/roi.json; done
runuser -u postgres -- $PGBIN/pg_ctl -D $B/pg stop -m fast >/dev/null
rm -rf $B
