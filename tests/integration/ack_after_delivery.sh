#!/bin/sh
# ack_after_delivery.sh: an inbound QoS 1 message is acknowledged to the
# broker only once its webhook delivery has ended (issue 13, point 5;
# DESIGN §7), so with broker.clean_session = false and subscribe.qos = 1
# a daemon killed with SIGKILL loses nothing: the broker sends again what
# was not acknowledged.
#
# 1. The receiver is down (its URL names a free port nothing listens
#    on): 5 QoS 1 messages reach the daemon and wait in its webhook
#    queue; the daemon is killed -9; the receiver comes up, the daemon
#    is started again with the same config: all 5 arrive. (Before this
#    change they were acknowledged when queued, and none ever arrived.)
# 2. 10,000 numbered QoS 1 messages, published at a steady pace while
#    the daemon is killed -9 twice mid-stream and started again each
#    time: the receiver gets every number. Duplicates are allowed (at
#    least once: what was delivered but not yet acknowledged when the
#    daemon died comes again) and counted.
#
# The broker keeps the daemon's session in memory (it is not restarted)
# and queues without limit for it while it is down (mosquitto's default
# max_queued_messages of 1000 would drop the rest, which is the broker's
# setting, not the daemon's loss).
#
# Environment: ACK_COUNT (default 10000) messages in part 2.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

# shellcheck source=tests/integration/hooks_lib.sh
. "$TESTS_SRCDIR/integration/hooks_lib.sh"

COUNT=${ACK_COUNT:-10000}
START=$(date +%s)
RUNS=1

# kill_daemon: SIGKILL, reaped; nothing of it survives to acknowledge.
kill_daemon() {
	kill -KILL "$DAEMON_PID" || fail "octomqttd (pid $DAEMON_PID) is not running"
	wait "$DAEMON_PID" 2>/dev/null
	forget "$DAEMON_PID"
}

# restart_daemon: the same config, a log of its own.
restart_daemon() {
	RUNS=$((RUNS + 1))
	start_daemon "$T/d.conf" "$T/daemon$RUNS.log"
	wait_for "run $RUNS to connect" 10 log_has "connected to broker"
}

# subscribe TOPIC PATH: register; expect 201.
subscribe() {
	post /subscriptions "{\"topic\":\"$1\",\"url\":\"http://127.0.0.1:$RECV_PORT$2\"}"
	[ "$CODE" = 201 ] || fail "subscribing $1 -> $2: $CODE $(cat "$T/body")"
}

# payloads PATH: the payload of every request to PATH, one a line.
payloads() {
	/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if r["path"] == sys.argv[2]:
        print(r["body"]["payload"])
' "$RECV_LOG" "$1"
}

# distinct PATH N: at least N different payloads came to PATH.
distinct() {
	[ "$(payloads "$1" | sort -u | wc -l)" -ge "$2" ]
}

BROKER_EXTRA="persistence false
max_queued_messages 100000000"
start_broker
RECV_PORT=$("$FREEPORT") || fail "freeport failed"
# Retries enough that nothing fails for good while the receiver is down.
daemon_conf "$T/d.conf" false <<EOF
subscribe.qos = 1
broker.clean_session = false
broker.client_id = octo-ack-test
webhook.retries = 30
webhook.timeout = 2
EOF
start_daemon "$T/d.conf" "$T/daemon1.log"
wait_for "the daemon to connect" 10 log_has "connected to broker"

# ---- 1. five messages, the receiver down, kill -9 ----
subscribe 'ack/#' /ack
wait_for "the broker subscription" 10 log_has "subscribed to 'ack/#' with QoS 1"
for i in 1 2 3 4 5; do
	pub ack/x "m$i"
done
wait_for "the daemon to receive the 5 messages" 10 counter_ge messages_received 5
wait_for "a retry while the receiver is down" 10 counter_ge webhook_retried 1
[ "$(counter webhook_delivered)" -eq 0 ] || fail "delivered with the receiver down?"
kill_daemon
start_receiver
restart_daemon
wait_for "the 5 messages after the restart" 20 distinct /ack 5
for i in 1 2 3 4 5; do
	payloads /ack | grep -q -x "m$i" || fail "m$i never arrived: $(payloads /ack | tr '\n' ' ')"
done
echo "part 1: 5 of 5 delivered after kill -9 ($(received /ack) requests)"

# ---- 2. COUNT messages, two kill -9 mid-stream ----
subscribe 'bulk/#' /bulk
wait_for "the broker subscription" 10 log_has "subscribed to 'bulk/#' with QoS 1"
# A steady stream: COUNT numbered lines at about 2000 a second to
# mosquitto_pub -l, so the kills come while messages still flow.
spawn sh -c "/usr/bin/python3 -c '
import sys, time
n, rate = int(sys.argv[1]), 2000.0
t0 = time.monotonic()
for i in range(n):
    sys.stdout.write(\"%d\\n\" % i)
    if i % 100 == 99:
        sys.stdout.flush()
        time.sleep(max(0.0, t0 + (i + 1) / rate - time.monotonic()))
sys.stdout.flush()
' $COUNT | mosquitto_pub -h 127.0.0.1 -p $BROKER_PORT -q 1 -t bulk/n -l" \
	>"$T/pub.out" 2>&1
PUB_PID=$SPAWNED
for at in $((COUNT / 5)) $((COUNT * 3 / 5)); do
	wait_for "$at deliveries to /bulk" 30 got /bulk "$at"
	kill_daemon
	restart_daemon
done
wait_for "the publisher to finish" 30 sh -c "! kill -0 $PUB_PID"
wait "$PUB_PID" || fail "the publisher failed: $(cat "$T/pub.out")"
forget "$PUB_PID"

_end=$(($(date +%s) + 40))
while ! distinct /bulk "$COUNT"; do
	if [ "$(date +%s)" -ge "$_end" ]; then
		payloads /bulk | sort -u >"$T/got"
		seq 0 $((COUNT - 1)) | sort >"$T/want"
		missing=$(comm -23 "$T/want" "$T/got" | sort -n)
		fail "$(echo "$missing" | wc -l) message(s) never arrived; the first:" \
			"$(echo "$missing" | head -n 20 | tr '\n' ' ')"
	fi
	sleep 0.1
done
bad=$(payloads /bulk | grep -v -x -E '[0-9]+' | head -n 3)
[ -z "$bad" ] || fail "unexpected payloads: $bad"
[ "$(payloads /bulk | awk -v c="$COUNT" '$1 >= c' | wc -l)" -eq 0 ] ||
	fail "payloads beyond $((COUNT - 1))"
total=$(payloads /bulk | wc -l)
alive "$DAEMON_PID" || fail "the daemon died"
stop_daemon
echo "part 2: $COUNT of $COUNT delivered, $((total - COUNT)) duplicate(s), 2 kill -9," \
	"$(($(date +%s) - START)) s in all"
exit 0
