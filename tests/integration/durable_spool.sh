#!/bin/sh
# durable_spool.sh: 10,000 QoS 1 (DURABLE_QOS) messages through POST /publish with
# queue.spool, the daemon killed with SIGKILL twice in the middle and
# started again on the same spool (issue 3, points 5 and 9; DESIGN §7:
# "with queue.spool, accepted-but-unsent messages survive a daemon
# restart").
#
#   kill 1: the broker is down, so the messages accepted since it went
#           are only in the daemon's queue and its spool; the publisher
#           keeps sending while the daemon is gone (those requests fail
#           and are sent again once it is back).
#   kill 2: the daemon is connected, but the broker is frozen (SIGSTOP):
#           500 messages accepted since then are in flight (sent, never
#           acknowledged) or queued behind the full in-flight window.
#           (Once thawed, mosquitto reads a few of the PUBLISH packets the
#           dead daemon had written, answers them, gets a reset for that
#           and drops the rest unread; the restarted daemon sends all 500
#           again from the spool.)
#
# Only messages answered 200 {"accepted": true} count as accepted. Every
# accepted message must reach the subscriber at least once; duplicates
# (a message sent before the kill and again from the spool, or a request
# the daemon took but could not answer) are allowed and counted. Each
# restart must log "N message(s) from the last run" with at least the
# messages known to have been unacknowledged at the kill.
#
# The broker side is as in durable_broker.sh (see there): a persistent
# subscriber session, persistence in the test's directory, stopped with
# SIGTERM so that it keeps what it acknowledged, max_queued_messages
# lifted.
#
# Where the spool is: the daemon fdatasync()s every accepted message into
# it before answering, so on a disk the test runs at the disk's pace: on
# a busy virtual machine 250..1000 fsyncs/s, 10..40 s for 10,000
# messages (doc/BENCHMARKS.md, "Spool"). What a SIGKILL can lose does
# not depend on that sync (the kernel's page cache outlives the process;
# the sync is for a power cut, which no test here makes), so the test
# directory, spool included, goes to /dev/shm when that is a writable
# tmpfs, and the test takes about 10 s. DURABLE_SPOOL_ON_DISK=1 keeps it
# in $TMPDIR (default /tmp) to run it against the disk.
#
# Environment: DURABLE_COUNT (default 10000) messages, DURABLE_QOS (1),
# DURABLE_SPOOL_ON_DISK.
if [ -z "${DURABLE_SPOOL_ON_DISK:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] &&
	[ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	TMPDIR=/dev/shm
	export TMPDIR
fi
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"
TOPIC=octomqttd-test/spool
# shellcheck source=tests/integration/durable_lib.sh
. "$TESTS_SRCDIR/integration/durable_lib.sh"

# all_arrived: every accepted n is at the subscriber.
all_arrived() {
	payloads | sort -u >"$T/got"
	sort -u "$T/accepted" >"$T/want"
	[ -z "$(comm -23 "$T/want" "$T/got" | head -n 1)" ]
}

# broker_frozen: the broker has stopped on SIGSTOP (state T in
# /proc/PID/stat; without /proc, assumed at once).
broker_frozen() {
	[ -r "/proc/$BROKER_PID/stat" ] || return 0
	[ "$(sed -n 's/^[0-9]* (.*) \(.\) .*/\1/p' "/proc/$BROKER_PID/stat")" = T ]
}

# kill_daemon: SIGKILL, reaped; the spool is left as the kill found it.
kill_daemon() {
	kill -KILL "$DAEMON_PID"
	{ wait "$DAEMON_PID"; } 2>/dev/null
	forget "$DAEMON_PID"
}

# restarted LOG AT_LEAST: start the daemon again on the same config and
# spool, logging to LOG; it must report at least AT_LEAST messages of the
# last run. Sets REPLAYED.
restarted() {
	start_daemon "$T/d.conf" "$1"
	REPLAYED=$(sed -n 's/.*: \([0-9][0-9]*\) message(s) from the last run$/\1/p' "$1")
	[ -n "$REPLAYED" ] || fail "no \"message(s) from the last run\" in $1"
	[ "$REPLAYED" -ge "$2" ] ||
		fail "$REPLAYED message(s) from the last run, but $2 were accepted and unacknowledged"
}

mkdir "$T/spool"
durable_start octo-spool "$T/daemon-1.log" <<EOF
queue.spool = $T/spool
EOF
wait_for "the first connection" 10 log_has "connected to broker 127\.0\.0\.1:$PORT"

# Gates (see tests/tools/publish.py) hold the publisher at known points:
# 2500 until the broker is stopped, 6000 until it is frozen, 6500 until
# the daemon was killed the second time.
: >"$T/accepted"
spawn /usr/bin/python3 "$PUBLISH" --port "$HTTP_PORT" --topic "$TOPIC" --count "$COUNT" \
	--accepted "$T/accepted" --qos "${DURABLE_QOS:-1}" --retry --rate 2000 --deadline 100 \
	--gate "$((COUNT / 4)):$T/gate1" --gate "$((COUNT * 6 / 10)):$T/gate2" \
	--gate "$((COUNT * 65 / 100)):$T/gate3" \
	>"$T/pub.out" 2>"$T/pub.err"
PUB_PID=$SPAWNED

# Kill 1: broker down, messages queued in the daemon and its spool.
wait_for "$((COUNT / 5)) messages accepted" 30 accepted_at_least $((COUNT / 5))
stop_broker
before=$(accepted_count)
: >"$T/gate1"
wait_for "$((COUNT * 35 / 100)) messages accepted (queued)" 30 \
	accepted_at_least $((COUNT * 35 / 100))
kill_daemon
after=$(accepted_count)
[ -s "$T/spool/queue.spool" ] || fail "the spool file is empty with $((after - before)) queued"
restarted "$T/daemon-2.log" $((after - before))
replayed1=$REPLAYED
start_broker "$PORT"
wait_for "the reconnect after kill 1" 15 log_has "connected to broker 127\.0\.0\.1:$PORT"

# Kill 2: connected, broker frozen, 500 messages accepted and in flight or
# queued behind the window.
wait_for "$((COUNT * 6 / 10)) messages accepted" 30 accepted_at_least $((COUNT * 6 / 10))
kill -STOP "$BROKER_PID"
wait_for "the broker to freeze" 10 broker_frozen
before=$(accepted_count)
: >"$T/gate2"
wait_for "$((COUNT * 65 / 100)) messages accepted (broker frozen)" 30 \
	accepted_at_least $((COUNT * 65 / 100))
kill_daemon
after=$(accepted_count)
kill -CONT "$BROKER_PID"
restarted "$T/daemon-3.log" $((after - before))
replayed2=$REPLAYED
: >"$T/gate3"
wait_for "the reconnect after kill 2" 15 log_has "connected to broker 127\.0\.0\.1:$PORT"

wait_for "the publisher to finish" 60 publisher_done
wait "$PUB_PID"
rc=$?
forget "$PUB_PID"
summary=$(tail -n 1 "$T/pub.out")
[ "$rc" -eq 0 ] || fail "publisher exit $rc: $summary $(cat "$T/pub.err")"
[ "$(sort -u "$T/accepted" | wc -l)" -eq "$COUNT" ] || fail "publisher lost count: $summary"

_end=$(($(date +%s) + 60))
while ! all_arrived; do
	if [ "$(date +%s)" -ge "$_end" ]; then
		missing=$(comm -23 "$T/want" "$T/got" | sort -n)
		fail "$(echo "$missing" | wc -l) accepted message(s) never arrived; the first:" \
			"$(echo "$missing" | head -n 20 | tr '\n' ' ')"
	fi
	sleep 0.1
done
bad=$(payloads | grep -v -x -E '[0-9]+' | head -n 3)
[ -z "$bad" ] || fail "unexpected payloads: $bad"
total=$(payloads | wc -l)
stop_sub
stop_daemon
# Everything was acknowledged, so nothing is left for a next run.
[ ! -s "$T/spool/queue.spool" ] ||
	fail "spool not empty after every message was acknowledged: $(wc -c <"$T/spool/queue.spool") bytes"
stop_broker
echo "durable_spool: $COUNT messages accepted and delivered, $((total - COUNT)) duplicate(s)," \
	"2 daemon kills ($replayed1 and $replayed2 message(s) from the last run)," \
	"$(($(date +%s) - START)) s, spool on $(stat -f -c %T "$T" 2>/dev/null || echo '?')" \
	"(publisher: $summary)"
exit 0
