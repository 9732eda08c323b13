#!/bin/sh
# lastwill.sh: the will and the status messages against a real mosquitto
# (DESIGN §4 publish.lwTopic, broker.lwRetain). The daemon publishes a
# retained "connected" on octoprint/mqtt; on SIGTERM a retained
# "disconnected"; killed with SIGKILL, the broker publishes the will, so
# a subscriber that comes later still reads "disconnected".
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

# retained_is TEXT: the retained message on octoprint/mqtt is TEXT.
retained_is() {
	_got=$(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t octoprint/mqtt -C 1 -W 2 \
		2>>"$T/sub.log")
	[ "$_got" = "$1" ]
}

start_broker
daemon_conf "$T/d.conf" false </dev/null
start_sub octoprint/mqtt "$T/sub.out"
start_daemon "$T/d.conf"
wait_for "connected at the subscriber" 10 grep -q -x "octoprint/mqtt connected" "$T/sub.out"
wait_for "a retained connected" 10 retained_is connected
stop_daemon
wait_for "disconnected at the subscriber" 10 \
	grep -q -x "octoprint/mqtt disconnected" "$T/sub.out"
wait_for "a retained disconnected" 10 retained_is disconnected
log_has "info: disconnected from broker" || fail "no clean disconnect after SIGTERM"

# Killed: no DISCONNECT, so mosquitto publishes the will.
start_daemon "$T/d.conf"
wait_for "a retained connected again" 10 retained_is connected
kill -KILL "$DAEMON_PID"
{ wait "$DAEMON_PID"; } 2>/dev/null
forget "$DAEMON_PID"
wait_for "the will, retained" 10 retained_is disconnected
[ "$(messages "$T/sub.out" | grep -c -x 'octoprint/mqtt disconnected')" -eq 2 ] ||
	fail "expected two disconnected messages: $(messages "$T/sub.out")"
stop_sub
exit 0
