#!/bin/bash
# The first `/api/roi` after a change to a journey (issue #20): serves the store in $1 (made
# by `leadgate demo --scale 1000000 --data D`), warms the report, then $ROUNDS times creates a
# campaign, posts a conversion for an existing contact, and posts a lead of that contact,
# timing the report after each change and once more after it (warm). Prints each time, the
# medians, and the server's peak RSS. The store keeps what it adds (names carry the time).
# Run from the repository after `cargo build --release`:
#   benches/first_report.sh D
set -e
D=${1:?usage: benches/first_report.sh DATA_DIR}
BIN=${BIN:-$PWD/target/release/leadgate}
ROUNDS=${ROUNDS:-5}
PORT=${PORT:-18097}
B=http://127.0.0.1:$PORT
export LEADGATE_ADMIN_TOKEN=bench-token-0123456789abcdef0123456789
AUTH="Authorization: Bearer $LEADGATE_ADMIN_TOKEN"
TAG=$(date +%s)
LEADGATE_LOG=${LEADGATE_LOG:-warn} $BIN serve --data "$D" --listen 127.0.0.1:$PORT \
  --rate-limit off &
SERVER=$!
trap 'kill $SERVER' EXIT
until curl -sf -o /dev/null $B/healthz; do sleep 0.1; done

roi() { curl -sf -o /dev/null -w '%{time_total}' -H "$AUTH" "$B/api/roi?model=last_touch"; }
post() { curl -sf -o /dev/null -H 'Content-Type: application/json' "$@"; }
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# The newest lead's contact: a conversion and then a lead for it are changes to a journey.
NEWEST=$(curl -sf -H "$AUTH" "$B/api/leads?limit=1")
PHONE=$(echo "$NEWEST" | python3 -c 'import sys, json; print(json.load(sys.stdin)["leads"][0]["phone"])')
SLUG=$(echo "$NEWEST" | python3 -c 'import sys, json; print(json.load(sys.stdin)["leads"][0]["campaign"])')
echo "first after start: $(roi) s; warm: $(roi) $(roi) $(roi) s"
: > /tmp/first_report.$$.changed
: > /tmp/first_report.$$.warm
for i in $(seq 1 "$ROUNDS"); do
  for change in campaign conversion lead; do
    case $change in
      campaign) post -H "$AUTH" -d "{\"slug\":\"bench-$TAG-$i\",\"name\":\"Bench $i\"}" $B/api/campaigns ;;
      conversion) post -H "$AUTH" -d "{\"id\":\"bench-$TAG-$i\",\"phone\":\"$PHONE\",\"stage\":\"won\",\"amount\":\"100\"}" $B/api/conversions ;;
      lead) post -d "{\"phone\":\"$PHONE\",\"name\":\"Bench\",\"consent\":\"on\"}" $B/f/$SLUG ;;
    esac
    first=$(roi); again=$(roi)
    echo "$first" >> /tmp/first_report.$$.changed
    echo "$again" >> /tmp/first_report.$$.warm
    echo "after a $change: $first s, then $again s"
  done
done
echo "median first after a change: $(median < /tmp/first_report.$$.changed) s; warm: $(median < /tmp/first_report.$$.warm) s"
grep VmHWM /proc/$SERVER/status
rm -f /tmp/first_report.$$.*
