#!/bin/sh
# octoprint_queue.sh: POST /progress/{kind} and POST /temperature while
# the broker is down (DESIGN §5): temperature messages are always queued;
# progress is answered like events, so it is queued when
# publish.queue_events is true and refused 503 when it is false. Two
# daemons, one of each, post while the broker is stopped; the broker comes
# back on the same port and a persistent QoS 1 subscriber (whose session
# the broker keeps on disk across the restart) sees every queued message
# and not the refused one.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

mkdir -p "$T/db"
BROKER_EXTRA="persistence true
persistence_location $T/db/"
start_broker
PORT=$BROKER_PORT
start_sub 'octoprint/#' "$T/sub.out" -c -i octoprint-queue-sub -q 1

# QoS 1, so the broker keeps the messages for the subscriber while it is
# still reconnecting after the restart.
daemon_conf "$T/queue.conf" false <<EOF
broker.client_id = octoprint-queue-on
publish.qos = 1
EOF
H_ON=$HTTP_PORT
start_daemon "$T/queue.conf" "$T/daemon-on.log"
PID_ON=$DAEMON_PID
daemon_conf "$T/noqueue.conf" false <<EOF
broker.client_id = octoprint-queue-off
publish.qos = 1
publish.queue_events = false
EOF
H_OFF=$HTTP_PORT
start_daemon "$T/noqueue.conf" "$T/daemon-off.log"
PID_OFF=$DAEMON_PID

# on_log LOG PATTERN [N]: at least N lines of LOG match PATTERN.
on_log() {
	[ "$(grep -c -E -- "$2" "$1")" -ge "${3:-1}" ]
}
# has LINE: the subscriber printed a line matching the extended regex.
has() {
	messages "$T/sub.out" | grep -q -E -x -- "$1"
}
status_has() {
	hcurl "http://127.0.0.1:$HTTP_PORT/status" | grep -q -F -- "$1"
}

for log in "$T/daemon-on.log" "$T/daemon-off.log"; do
	wait_for "$log: connected" 10 on_log "$log" "connected to broker"
done

stop_broker
for log in "$T/daemon-on.log" "$T/daemon-off.log"; do
	wait_for "$log: the broker is gone" 10 on_log "$log" "retrying in"
done

# publish.queue_events = true: both queued.
HTTP_PORT=$H_ON
post /progress/printing '{"location":"local","path":"queued.gcode","progress":7}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/progress/printing"}'
post /temperature '{"time":1700000100,"tool0":{"actual":200.5,"target":210}}'
expect_answer 202 '{"accepted":true,"published":1}'
status_has '"queue":{"messages":2,' || fail "queue_events = true: not both queued"

# publish.queue_events = false: progress refused, temperature still queued.
HTTP_PORT=$H_OFF
post /progress/slicing '{"slicer":"cura","progress":50}'
expect_refused not_connected
post /temperature '{"time":1700000200,"bed":{"actual":60.25,"target":60}}'
expect_answer 202 '{"accepted":true,"published":1}'
status_has '"queue":{"messages":1,' || fail "queue_events = false: the temperature was not queued"

start_broker "$PORT"
wait_for "the queued progress" 20 has \
	'octoprint/progress/printing \{"location":"local","path":"queued.gcode","progress":7,"_timestamp":[0-9]+\}'
wait_for "the queued tool0 temperature" 20 has \
	'octoprint/temperature/tool0 \{"actual":200.5,"target":210,"_timestamp":1700000100\}'
wait_for "the queued bed temperature" 20 has \
	'octoprint/temperature/bed \{"actual":60.25,"target":60,"_timestamp":1700000200\}'
has 'octoprint/progress/slicing .*' && fail "the refused progress was published"
for log in "$T/daemon-on.log" "$T/daemon-off.log"; do
	on_log "$log" "connected to broker" 2 || fail "$log: no reconnect logged"
done

DAEMON_PID=$PID_OFF DAEMON_CONF=$T/noqueue.conf
stop_daemon
DAEMON_PID=$PID_ON DAEMON_CONF=$T/queue.conf
stop_daemon
stop_sub
echo ok
