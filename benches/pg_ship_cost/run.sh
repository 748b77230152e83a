#!/bin/bash
# What shipping costs PostgreSQL, without the node (README "Several nodes", PostgreSQL
# settings): replays the statements a batch runs (ship_base.sql, as src/replica/ship.rs
# has them for a batch of lead.created events, with schema version 3) with psql, 2000
# synthetic leads per transaction (stage.sql: ids in order, 400k contacts, 1k campaigns),
# on a throwaway PostgreSQL 15 cluster, and prints PostgreSQL's CPU-seconds, its WAL and the
# tables' size. Run as root:
#   benches/pg_ship_cost/run.sh NAME EXTRA_SQL LEADS [postgres -c settings...]
# e.g. benches/pg_ship_cost/run.sh defaults "" 1000000
#      benches/pg_ship_cost/run.sh tuned v4 1000000 -c shared_buffers=1GB \
#          -c max_wal_size=8GB -c checkpoint_timeout=30min -c wal_compression=lz4
# EXTRA_SQL: "" for schema version 3, v4 for version 4 (src/replica/schema.rs), or a file
# here, run after version 3, that drops an index or the trigger, to see what each costs.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NAME=$1; EXTRA=$2; N=$3; shift 3
D=/tmp/pg-ship-cost-$NAME; P=${PORT:-55461}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
rm -rf $D; mkdir -p $D; chown postgres $D
runuser -u postgres -- $PGBIN/initdb -D $D/pg -A trust -U postgres >/dev/null
runuser -u postgres -- $PGBIN/pg_ctl -D $D/pg -o "-p $P -k $D -c listen_addresses=127.0.0.1 $*" -l $D/pglog start -w >/dev/null
# CPU-seconds of the cluster: the postmaster, its reaped children, its live children.
pg_cpu() {
  local pm; pm=$(head -1 $D/pg/postmaster.pid)
  { awk '{print $14+$15+$16+$17}' /proc/$pm/stat
    for c in $(ps --ppid $pm -o pid=); do awk '{print $14+$15}' /proc/$c/stat 2>/dev/null || true; done
  } | awk -v t="$(getconf CLK_TCK)" '{s+=$1} END {printf "%.1f", s/t}'
}
Q="psql -h 127.0.0.1 -p $P -U postgres -q -v ON_ERROR_STOP=1"
# The schema as the migrations make it (the raw strings of src/replica/schema.rs).
VERSIONS=3; [ "$EXTRA" = v4 ] && VERSIONS=4
{ echo "CREATE SCHEMA leadgate;"
  python3 -c "import re; print('\n'.join(re.findall(r'r#\"(.*?)\"#', open('$REPO/src/replica/schema.rs').read(), re.S)[:$VERSIONS]))"
} > $D/schema.sql
$Q -f $D/schema.sql >/dev/null
if [ -n "$EXTRA" ] && [ "$EXTRA" != v4 ]; then $Q -f "$HERE/$EXTRA" >/dev/null; fi
$Q -f "$HERE/stage.sql" >/dev/null
$Q -c "CHECKPOINT" -c "SELECT pg_stat_reset_shared('wal')" >/dev/null
python3 - "$HERE/ship_base.sql" "$N" 2000 > $D/run.sql <<'PY'
import sys
stmts = open(sys.argv[1]).read(); total = int(sys.argv[2]); batch = int(sys.argv[3])
print("\\set ON_ERROR_STOP on")
print("INSERT INTO leadgate.nodes VALUES ('bench', 0, now());")
for lo in range(1, total + 1, batch):
    print(stmts.format(lo=lo, hi=lo + batch - 1, last=lo + batch - 1))
PY
c0=$(pg_cpu); s=$(date +%s.%N)
$Q -f $D/run.sql >/dev/null
e=$(date +%s.%N)
# The session's backend is counted once the postmaster has reaped it.
sleep 1; c1=$(pg_cpu)
w=$($Q -At -c "select wal_records||' WAL records, '||wal_fpi||' full-page images, '||pg_size_pretty(wal_bytes) from pg_stat_wal")
python3 -c "print(f'$NAME: $N leads in {$e-$s:.1f} s, PostgreSQL {$c1-$c0:.1f} CPU-seconds; $w; load average $(cut -d' ' -f1-3 /proc/loadavg)')"
runuser -u postgres -- $PGBIN/pg_ctl -D $D/pg stop -m fast >/dev/null
rm -rf $D
