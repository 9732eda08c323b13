#!/bin/sh
# octoprint_api.sh: the OctoPrint-MQTT parts of the API end to end against
# mosquitto: POST /progress/{kind} and POST /temperature (threshold rule),
# publish.events.<class> off, publish.retain as a list of events, and
# publish.timestamp_fieldname.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

start_broker
daemon_conf "$T/d.conf" true <<EOF
publish.events.gcode = false
publish.retain = PrintStarted
publish.timestamp_fieldname = ts
publish.temperatureThreshold = 1
EOF
start_daemon "$T/d.conf"
wait_for "the daemon to connect" 10 log_has "connected to broker"
start_sub 'octoprint/#' "$T/sub.out"

# has LINE: the subscriber printed a line matching the extended regex.
has() {
	messages "$T/sub.out" | grep -q -E -x -- "$1"
}

post /progress/printing '{"location":"local","path":"benchy.gcode","progress":42}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/progress/printing"}'
wait_for "the progress message" 5 has \
	'octoprint/progress/printing \{"location":"local","path":"benchy.gcode","progress":42,"ts":[0-9]+\}'

post /temperature '{"time":1700000000,"tool0":{"actual":21.5,"target":0},"bed":{"actual":0,"target":0}}'
expect_answer 202 '{"accepted":true,"published":1}'
wait_for "the tool0 temperature" 5 has \
	'octoprint/temperature/tool0 \{"actual":21.5,"target":0,"ts":1700000000\}'
# Moved less than publish.temperatureThreshold: not published.
post /temperature '{"time":1700000001,"tool0":{"actual":22.0,"target":0}}'
expect_answer 202 '{"accepted":true,"published":0}'
post /temperature '{"time":1700000002,"tool0":{"actual":22.5,"target":0}}'
expect_answer 202 '{"accepted":true,"published":1}'
wait_for "the second tool0 temperature" 5 has \
	'octoprint/temperature/tool0 \{"actual":22.5,"target":0,"ts":1700000002\}'

# A gcode-class event is accepted and not published; PrintStarted is retained.
post /events/ZChange '{"new":1}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/ZChange"}'
post /events/PrintStarted '{"name":"benchy.gcode"}'
wait_for "PrintStarted" 5 has 'octoprint/event/PrintStarted .*"_event":"PrintStarted".*'
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t octoprint/event/PrintStarted -C 1 -W 10 \
	-F '%r' >"$T/retained.out" 2>&1 || fail "PrintStarted was not retained: $(cat "$T/retained.out")"
[ "$(cat "$T/retained.out")" = 1 ] || fail "retained flag: $(cat "$T/retained.out")"
has 'octoprint/event/ZChange .*' && fail "a gcode-class event was published"
stop_daemon
echo ok
