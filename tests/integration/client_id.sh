#!/bin/sh
# client_id.sh: two daemons with one client id on one broker (two
# OctoPrint instances on one host, both with the default
# octomqttd-<hostname>) take each other's session over, and mosquitto
# closes the older connection each time. Each daemon must say so: from
# the third accepted connection in a row that the broker closed before it
# lasted broker.reconnect_max, a warning names the client id and the key
# to set (issue 17, point 4). Before, each only logged "closed the
# connection" and reconnected, for ever.
#
# A third daemon with an id of its own, on the same broker the same
# while, stays connected and logs no such warning.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

start_broker
WARN="another client may be using client id 'twin-id' (set broker.client_id)"

# twin NAME ID: daemon NAME with client id ID, logging to daemon-NAME.log.
twin() {
	printf 'broker.client_id = %s\nstate.file = %s\n' "$2" "$T/$1.json" >"$T/$1.extra-in"
	daemon_conf "$T/$1.conf" false <"$T/$1.extra-in"
	start_daemon "$T/$1.conf" "$T/daemon-$1.log"
}

twin a twin-id
A_PID=$DAEMON_PID
wait_for "daemon a connected" 10 grep -q "connected to broker" "$T/daemon-a.log"
twin c single-id
C_PID=$DAEMON_PID
wait_for "daemon c connected" 10 grep -q "connected to broker" "$T/daemon-c.log"
twin b twin-id
B_PID=$DAEMON_PID

# either_warned: one of the twins has said it (each needs three
# take-overs of its own; reconnect_max 2 keeps the backoff short).
either_warned() {
	grep -qF "$WARN" "$T/daemon-a.log" || grep -qF "$WARN" "$T/daemon-b.log"
}
wait_for "a twin to warn about the shared client id" 40 either_warned
line=$(grep -hF "$WARN" "$T/daemon-a.log" "$T/daemon-b.log" | head -n 1)
echo "$line" | grep -q "warn: broker 127\.0\.0\.1:$BROKER_PORT closed [3-9][0-9]* connections in a row soon after accepting them" ||
	fail "the warning does not say what happened: $line"
if grep -q "client id" "$T/daemon-c.log"; then
	fail "the daemon with its own id warned: $(grep "client id" "$T/daemon-c.log")"
fi
[ "$(grep -c "connected to broker" "$T/daemon-c.log")" -eq 1 ] ||
	fail "the daemon with its own id reconnected: $(grep "broker" "$T/daemon-c.log" | tail -n 3)"
for pid in "$A_PID" "$B_PID" "$C_PID"; do
	alive "$pid" || fail "daemon $pid died"
done
echo "client_id: one twin warned: $line"
exit 0
