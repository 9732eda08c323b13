#!/bin/sh
# keepalive.sh: steady one-way traffic never causes a reconnect (issue 13,
# point 1; DESIGN §4 broker.keepalive). A real mosquitto logs everything
# (log_type all); the daemon has broker.keepalive = 3 and publishes about
# 20 QoS 0 events/s for 20 s, which the broker never answers. A PINGREQ
# goes out when 3 s passed with nothing sent OR nothing received, so the
# broker's PINGRESPs keep the link alive:
#   - /status: reconnects 0, connects 1, pings_sent > 0, pings_unanswered 0;
#   - the broker's log: exactly one connection from the client id, and
#     "Received PINGREQ from <client id>";
#   - every event accepted (202) and at the subscriber.
#
# On the code before issue 13 this failed with:
#   FAIL: reconnects = 3 (want -eq 0); connects = 4 (want -eq 1);
#   pings_sent missing from /status; pings_unanswered missing from
#   /status; the broker saw 4 connections from octomqttd-ka-test (want
#   1); no PINGREQ from octomqttd-ka-test in the broker's log
# (a PINGREQ went out only after 3 s without sending, which never came,
# and the link was declared dead after 4.5 s without receiving).
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

CID=octomqttd-ka-test
SECONDS_OF_TRAFFIC=20

healthy() {
	[ "$(hcurl -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health")" = 200 ]
}

start_broker
daemon_conf "$T/d.conf" false <<EOF2
broker.keepalive = 3
broker.client_id = $CID
EOF2
start_sub 'octoprint/event/Tick' "$T/sub.out"
start_daemon "$T/d.conf"
wait_for "the daemon to connect" 10 healthy

# About 20 events/s: 6 every 0.2 s (plus curl's own 0.1 s or so), on one
# keep-alive connection each time.
# The fixed interval of traffic is what is measured here.
URL=http://127.0.0.1:$HTTP_PORT/events/Tick
SIX=""
for _i in 1 2 3 4 5 6; do
	SIX="$SIX -o /dev/null $URL"
done
: >"$T/codes"
sent=0
_end=$(($(date +%s) + SECONDS_OF_TRAFFIC))
while [ "$(date +%s)" -lt "$_end" ]; do
	# shellcheck disable=SC2086 # SIX is a list of words
	hcurl -d '{}' -w '%{http_code}\n' $SIX >>"$T/codes" || fail "curl POST /events/Tick failed"
	sent=$((sent + 6))
	sleep 0.2
done
accepted=$(grep -c -x 202 "$T/codes")
echo "keepalive: $sent events posted in $SECONDS_OF_TRAFFIC s, $accepted accepted"
[ "$accepted" -eq "$sent" ] || fail "$((sent - accepted)) of $sent events not accepted:" \
	"$(sort "$T/codes" | uniq -c | tr '\n' ' ')"

# Everything collected, then reported at once.
errs=""
bad() {
	errs="$errs${errs:+; }$*"
}

hcurl -o "$T/status" "http://127.0.0.1:$HTTP_PORT/status" || fail "GET /status failed"
/usr/bin/python3 - "$T/status" >"$T/status.kv" <<'PY' || fail "bad /status: $(cat "$T/status")"
import json, sys
c = json.load(open(sys.argv[1]))["counters"]
for k in ("reconnects", "connects", "pings_sent", "pings_unanswered"):
    print(k, c.get(k, "missing"))
PY
val() {
	sed -n "s/^$1 //p" "$T/status.kv"
}
# want NAME OP VALUE: the counter compares as wanted (test OP), else noted.
want() {
	_v=$(val "$1")
	if [ "$_v" = missing ]; then
		bad "$1 missing from /status"
	elif ! test "$_v" "$2" "$3"; then
		bad "$1 = $_v (want $2 $3)"
	fi
}
want reconnects -eq 0
want connects -eq 1
want pings_sent -gt 0
want pings_unanswered -eq 0

conns=$(grep -c "New client connected from .* as $CID " "$T/broker.log")
[ "$conns" -eq 1 ] || bad "the broker saw $conns connections from $CID (want 1)"
pings=$(grep -c "Received PINGREQ from $CID\$" "$T/broker.log")
[ "$pings" -gt 0 ] || bad "no PINGREQ from $CID in the broker's log"
echo "keepalive: the broker logged $pings PINGREQ(s) from $CID; /status:" \
	"$(tr '\n' ' ' <"$T/status.kv")"
[ -z "$errs" ] || fail "$errs"

wait_for "$sent events at the subscriber" 10 count_messages "$T/sub.out" "$sent"
got=$(messages "$T/sub.out" | wc -l)
[ "$got" -eq "$sent" ] || fail "the subscriber got $got events, $sent were sent"
alive "$DAEMON_PID" || fail "octomqttd died"
stop_daemon
exit 0
