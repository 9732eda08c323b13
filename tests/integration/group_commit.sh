#!/bin/sh
# group_commit.sh: issue 18 point 4 (the soak's slow requests). With
# queue.spool, the messages accepted in one pass of the loop are made
# durable by one fdatasync before any of their answers goes out (group
# commit), instead of one fdatasync per message with the loop stopped
# for each: 16 connections, 2,000 POST /events at QoS 1, every one
# answered 202 and delivered, and /status spool_syncs under 2,000 (it
# counts the fdatasyncs; before the change there was one per message,
# and no such counter). The spool is on the test's directory ($TMPDIR,
# a disk like the soak's).
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

[ -x "${LOADGEN:-}" ] || fail "LOADGEN is not set to contrib/loadgen"
COUNT=2000
TOPIC=octoprint/event/Grouped

BROKER_EXTRA="persistence false
max_queued_messages 100000000"
start_broker
mkdir "$T/spool"
daemon_conf "$T/d.conf" false <<CONF
publish.qos = 1
queue.spool = $T/spool
log.level = info
CONF
start_daemon "$T/d.conf"
wait_for "the first connection" 10 log_has "connected to broker 127\.0\.0\.1:$BROKER_PORT"

spawn "$LOADGEN" mqtt-sub -p "$BROKER_PORT" -t "$TOPIC" -n "$COUNT" -i 10 -T 120 \
	>"$T/sub.out" 2>"$T/sub.log"
SUBSCRIBER=$SPAWNED
wait_for "the subscriber" 10 grep -q '^ready$' "$T/sub.out"


"$LOADGEN" http -p "$HTTP_PORT" -c 16 -n "$COUNT" -e Grouped -o "$T/refused" \
	>"$T/http.out" 2>"$T/http.log" || fail "loadgen http failed: $(cat "$T/http.log")"
[ "$(kv status_202 "$T/http.out")" = "$COUNT" ] || fail "not all accepted: $(cat "$T/http.out")"
wait_for "every accepted event at the subscriber" 60 not_alive "$SUBSCRIBER"
wait "$SUBSCRIBER"
forget "$SUBSCRIBER"
[ "$(kv received "$T/sub.out")" = "$COUNT" ] ||
	fail "$(kv received "$T/sub.out") of $COUNT accepted events delivered"
syncs=$(hcurl --max-time 2 "http://127.0.0.1:$HTTP_PORT/status" | /usr/bin/python3 -c '
import json, sys
print(json.load(sys.stdin)["counters"].get("spool_syncs", -1))')
echo "spool_syncs $syncs for $COUNT messages accepted on 16 connections"
[ "$syncs" -gt 0 ] && [ "$syncs" -lt "$COUNT" ] ||
	fail "spool_syncs is $syncs: want one fdatasync per loop pass, fewer than $COUNT"
stop_daemon
exit 0
