# durable_lib.sh: what durable_broker.sh and durable_spool.sh share
# (POSIX sh; sourced after lib.sh, with TOPIC set). The publisher
# (tests/tools/publish.py) appends every accepted n to $T/accepted; a
# persistent QoS 1 subscriber writes what arrives to $T/sub.out.
# shellcheck shell=sh

COUNT=${DURABLE_COUNT:-10000}
PUBLISH=$TESTS_SRCDIR/tools/publish.py
START=$(date +%s)

accepted_count() {
	wc -l <"$T/accepted"
}

# accepted_at_least N: the publisher has had N messages accepted.
accepted_at_least() {
	[ "$(accepted_count)" -ge "$1" ]
}

publisher_done() {
	! alive "$PUB_PID"
}

# payloads: the n of every message the subscriber received, one a line.
payloads() {
	messages "$T/sub.out" | sed -n "s|^$TOPIC ||p"
}

# durable_start ID [DAEMON_LOG]: a mosquitto that keeps its sessions on
# disk and queues without limit, a persistent subscriber (client id
# ID-sub) on $TOPIC, and the daemon with clean_session = false (client id
# ID) plus the config lines on stdin.
durable_start() {
	mkdir -p "$T/db"
	BROKER_EXTRA="persistence true
persistence_location $T/db/
max_queued_messages 100000000"
	start_broker
	PORT=$BROKER_PORT
	start_sub "$TOPIC" "$T/sub.out" -c -i "$1-sub" -q 1
	{
		echo "broker.clean_session = false"
		echo "broker.client_id = $1"
		cat
	} >"$T/durable.conf"
	# Not a pipe: daemon_conf sets HTTP_PORT for this shell.
	daemon_conf "$T/d.conf" false <"$T/durable.conf"
	start_daemon "$T/d.conf" ${2:+"$2"}
}
