#!/bin/sh
# durable_broker.sh: 10,000 QoS 1 messages through POST /publish while the
# broker goes away twice and comes back (issue 3, point 9; DESIGN §7).
# The daemon keeps its session (broker.clean_session = false): what it
# had in flight when the broker vanished is sent again after the
# reconnect, what was accepted while the broker was down is queued and
# sent in order. Every request must be answered 200 {"accepted": true},
# and every n of 0..9999 must reach the subscriber at least once
# (duplicates are allowed by QoS 1 and counted, none may be missing).
#
# The subscriber holds a persistent session (mosquitto_sub -c -i ID -q 1):
# it is disconnected with everyone else while the broker is down, and the
# broker keeps what arrives for it until it is back.
#
# Why the broker is stopped with SIGTERM and not SIGKILL: mosquitto
# acknowledges a QoS 1 PUBLISH (PUBACK) as soon as it holds the message
# in memory, and writes its database only on exit or every
# autosave_interval. Killed with SIGKILL, it forgets messages it already
# acknowledged (and the subscriber's session), and no client could get
# them back: the daemon rightly dropped them when the PUBACK came. That
# is the broker's durability, not ours. SIGTERM makes it save the
# database on the way out (persistence true, in the test's private
# directory), so every message it acknowledged survives the restart and
# what is tested is the daemon's side: the connection vanishes at any
# moment of the stream (the publisher keeps going while the broker
# stops), and nothing the daemon accepted is lost.
#
# max_queued_messages: mosquitto keeps at most that many messages (1000 by
# default) for a client that is offline, or that has its in-flight
# window full, and drops the rest. After a restart the daemon may
# reconnect before the subscriber does and send it thousands of queued
# messages, so the limit is lifted (a large number: 0 is not reliably
# "unlimited" in mosquitto 2.0.11).
#
# Environment: DURABLE_COUNT (default 10000) messages.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"
TOPIC=octomqttd-test/durable
# shellcheck source=tests/integration/durable_lib.sh
. "$TESTS_SRCDIR/integration/durable_lib.sh"

# all_arrived: every n of 0..COUNT-1 is at the subscriber.
all_arrived() {
	[ "$(payloads | sort -u | wc -l)" -ge "$COUNT" ]
}

durable_start octo-durable </dev/null
wait_for "the first connection" 10 log_has "connected to broker 127\.0\.0\.1:$PORT"

# The publisher stops at each gate until the test opens it, so each
# broker stop and start happens in a known stretch of the stream: the
# broker is stopped while messages flow (the publisher is between 2000
# and 2500 accepted, or waiting at 2500 if this shell is slow), messages
# 2500..3499 at least are accepted while it is down, and so again from
# 5500 and 7000.
: >"$T/accepted"
spawn /usr/bin/python3 "$PUBLISH" --port "$HTTP_PORT" --topic "$TOPIC" --count "$COUNT" \
	--accepted "$T/accepted" --rate 2000 --deadline 100 \
	--gate "$((COUNT / 4)):$T/gate1" --gate "$((COUNT * 4 / 10)):$T/gate2" \
	--gate "$((COUNT * 6 / 10)):$T/gate3" --gate "$((COUNT * 75 / 100)):$T/gate4" \
	>"$T/pub.out" 2>"$T/pub.err"
PUB_PID=$SPAWNED

restarts=0
for stretch in 1 2; do
	if [ "$stretch" = 1 ]; then
		stop_at=$((COUNT / 5)) down_until=$((COUNT * 35 / 100)) g_stop=gate1 g_start=gate2
	else
		stop_at=$((COUNT * 55 / 100)) down_until=$((COUNT * 7 / 10)) g_stop=gate3 g_start=gate4
	fi
	wait_for "$stop_at messages accepted" 30 accepted_at_least "$stop_at"
	stop_broker
	: >"$T/$g_stop"
	wait_for "$down_until messages accepted (queued)" 30 accepted_at_least "$down_until"
	start_broker "$PORT"
	restarts=$((restarts + 1))
	: >"$T/$g_start"
	wait_for "reconnect $restarts" 15 \
		log_has "connected to broker 127\.0\.0\.1:$PORT" "$((restarts + 1))"
done

wait_for "the publisher to finish" 60 publisher_done
wait "$PUB_PID"
rc=$?
forget "$PUB_PID"
summary=$(tail -n 1 "$T/pub.out")
[ "$rc" -eq 0 ] || fail "publisher exit $rc: $summary $(cat "$T/pub.err")"
case $summary in
*" refused=0 errors=0 "*) ;;
*) fail "every request must be answered 200 at once: $summary $(head -n 5 "$T/pub.err")" ;;
esac
[ "$(sort -u "$T/accepted" | wc -l)" -eq "$COUNT" ] || fail "publisher lost count: $summary"

# Everything is in; the wait only covers what is still on its way.
_end=$(($(date +%s) + 60))
while ! all_arrived; do
	if [ "$(date +%s)" -ge "$_end" ]; then
		payloads | sort -u >"$T/got"
		seq 0 $((COUNT - 1)) | sort >"$T/want"
		missing=$(comm -23 "$T/want" "$T/got" | sort -n)
		fail "$(echo "$missing" | wc -l) message(s) never arrived; the first:" \
			"$(echo "$missing" | head -n 20 | tr '\n' ' ')"
	fi
	sleep 0.1
done
# Nothing but the payloads 0..COUNT-1 (and each of them, as counted).
bad=$(payloads | grep -v -x -E '[0-9]+' | head -n 3)
[ -z "$bad" ] || fail "unexpected payloads: $bad"
[ "$(payloads | sort -u | awk -v c="$COUNT" '$1 >= c' | wc -l)" -eq 0 ] ||
	fail "payloads beyond $((COUNT - 1))"
total=$(payloads | wc -l)
stop_sub
stop_daemon
stop_broker
echo "durable_broker: $COUNT messages accepted and delivered, $((total - COUNT)) duplicate(s)," \
	"$restarts broker restarts, $(($(date +%s) - START)) s (publisher: $summary)"
exit 0
