#!/bin/sh
# lastwill.sh: the will and the status messages against a real mosquitto
# (DESIGN §4 publish.lwTopic, broker.lwRetain). The daemon publishes a
# retained "connected" on octoprint/mqtt; on SIGTERM a retained
# "disconnected"; killed with SIGKILL, the broker publishes the will, so
# a subscriber that comes later still reads "disconnected". With
# publish.lwActive = false there is none of this: no retained message on
# octoprint/mqtt after start, after SIGTERM, or after SIGKILL (no will).
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

# publish.lwActive = false, on a fresh broker (nothing retained yet).
stop_broker
start_broker
daemon_conf "$T/off.conf" false <<EOF
publish.lwActive = false
EOF
RPROBE=octomqttd-test/retained-probe
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t "$RPROBE" -r -m here 2>>"$T/sub.log" ||
	fail "mosquitto_pub failed"
# no_status: nothing retained on octoprint/mqtt. A new subscriber gets the
# retained messages of its filters in their order, so the probe is first
# only when octoprint/mqtt holds nothing.
no_status() {
	_got=$(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t octoprint/mqtt -t "$RPROBE" \
		-v -C 1 -W 5 2>>"$T/sub.log")
	[ "$_got" = "$RPROBE here" ] || fail "$1: got '$_got' first, expected the probe"
}
# The check itself, while octoprint/mqtt does hold a retained message.
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t octoprint/mqtt -r -m control 2>>"$T/sub.log" ||
	fail "mosquitto_pub failed"
_got=$(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t octoprint/mqtt -t "$RPROBE" -v -C 1 \
	-W 5 2>>"$T/sub.log")
[ "$_got" = "octoprint/mqtt control" ] || fail "the retained check is blind: got '$_got'"
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t octoprint/mqtt -r -n 2>>"$T/sub.log" ||
	fail "mosquitto_pub failed"
no_status "after clearing"

: >"$T/off.out"
start_sub octoprint/mqtt "$T/off.out" -t octoprint/event/Ping
start_daemon "$T/off.conf" "$T/daemon-off.log"
wait_for "connected (lwActive = false)" 10 log_has "connected to broker"
# An event sent after connecting arrives after any status message would.
post /events/Ping '{}'
[ "$CODE" = 202 ] || fail "POST /events/Ping: $CODE $(cat "$T/body")"
wait_for "the event" 10 grep -q "^octoprint/event/Ping " "$T/off.out"
[ "$(messages "$T/off.out" | wc -l)" -eq 1 ] ||
	fail "lwActive = false published: $(messages "$T/off.out")"
no_status "after start"
stop_daemon
log_has "info: disconnected from broker" || fail "no clean disconnect after SIGTERM"
no_status "after SIGTERM"

start_daemon "$T/off.conf" "$T/daemon-off.log"
wait_for "connected again" 10 log_has "connected to broker" 2
_n=$(grep -c -E "Client octomqttd-[^ ]* (closed its connection|disconnected)" "$T/broker.log")
kill -KILL "$DAEMON_PID"
{ wait "$DAEMON_PID"; } 2>/dev/null
forget "$DAEMON_PID"
# The broker noticed the connection end (it would have sent the will then).
broker_saw_end() {
	[ "$(grep -c -E "Client octomqttd-[^ ]* (closed its connection|disconnected)" \
		"$T/broker.log")" -gt "$_n" ]
}
wait_for "the broker to see the daemon go" 10 broker_saw_end
no_status "after SIGKILL"
# The live subscriber saw nothing on octoprint/mqtt either.
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t "$PROBE" -m last 2>>"$T/sub.log" ||
	fail "mosquitto_pub failed"
wait_for "the last probe" 10 grep -q "^$PROBE last" "$T/off.out"
[ "$(messages "$T/off.out" | grep -v -c "^octoprint/event/Ping ")" -eq 0 ] ||
	fail "lwActive = false published: $(messages "$T/off.out")"
stop_sub
exit 0
