#!/bin/sh
# queue.sh: events accepted while the broker is down are queued in the
# daemon and arrive in order once it is back (publish.queue_events); a
# full queue and a disabled queue answer 503 with the reason.
#
# The subscriber must not miss what the daemon sends the moment it
# reconnects, without any timing games: it holds a persistent session
# (clean session off, QoS 1) in a broker that keeps its database across
# the restart and queues QoS 0 messages for offline sessions, so the
# broker keeps the messages for it until it comes back.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

QSUB="-c -i octo-qsub -q 1"

mkdir "$T/db"
BROKER_EXTRA="persistence true
persistence_location $T/db/
queue_qos0_messages true"
start_broker
PORT=$BROKER_PORT
# shellcheck disable=SC2086 # QSUB is a list of options
start_sub 'octoprint/event/#' "$T/sub1.out" $QSUB
stop_sub

daemon_conf "$T/d.conf" false </dev/null
start_daemon "$T/d.conf"
wait_for "the first connection" 10 log_has "connected to broker 127\.0\.0\.1:$PORT"
stop_broker
wait_for "the daemon to log the lost connection" 10 log_has "retrying in"

i=0
while [ "$i" -lt 50 ]; do
	post /events/Q "{\"n\":$i}"
	expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Q"}'
	i=$((i + 1))
done

start_broker "$PORT"
wait_for "the daemon to reconnect" 15 log_has "connected to broker 127\.0\.0\.1:$PORT" 2
# shellcheck disable=SC2086
start_sub 'octoprint/event/#' "$T/sub2.out" $QSUB
wait_for "50 queued events at the subscriber" 15 count_messages "$T/sub2.out" 50
i=0
while [ "$i" -lt 50 ]; do
	echo "octoprint/event/Q {\"n\":$i,\"_event\":\"Q\"}"
	i=$((i + 1))
done >"$T/want"
messages "$T/sub2.out" >"$T/got"
cmp "$T/got" "$T/want" || {
	diff "$T/want" "$T/got" | head -20
	fail "queued events missing, repeated or out of order"
}
stop_sub
stop_daemon
stop_broker

# Broker down from the start. queue.max_messages = 5: the sixth event is
# refused, not silently dropped; the five queued ones are reported when
# the daemon stops without having sent them.
daemon_conf "$T/full.conf" false <<EOF
queue.max_messages = 5
EOF
start_daemon "$T/full.conf" "$T/daemon-full.log"
i=0
while [ "$i" -lt 5 ]; do
	post /events/F "{\"n\":$i}"
	expect_answer 202 '{"accepted":true,"topic":"octoprint/event/F"}'
	i=$((i + 1))
done
post /events/F '{"n":5}'
expect_refused queue_full
post /events/F '{"n":6}'
expect_refused queue_full
stop_daemon
log_has " 5 message\(s\) not delivered at shutdown" ||
	fail "the messages still queued at shutdown were not reported"

# queue.max_bytes = 1024 (topic and payload bytes): a second 600-byte
# event does not fit and is refused; a small one still does.
daemon_conf "$T/bytes.conf" false <<EOF
queue.max_bytes = 1024
EOF
start_daemon "$T/bytes.conf" "$T/daemon-bytes.log"
pad=$(printf '%0600d' 0)
post /events/B "{\"pad\":\"$pad\"}"
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/B"}'
post /events/B "{\"pad\":\"$pad\"}"
expect_refused queue_full
post /events/B '{"n":1}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/B"}'
stop_daemon

# publish.queue_events = false: refused while disconnected.
daemon_conf "$T/noq.conf" false <<EOF
publish.queue_events = false
EOF
start_daemon "$T/noq.conf" "$T/daemon-noq.log"
post /events/N '{}'
expect_refused not_connected
stop_daemon
exit 0
