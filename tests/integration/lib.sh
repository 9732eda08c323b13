# lib.sh: shared helpers for the integration tests (POSIX sh).
#
# Sourced by each tests/integration/*.sh. Every process a test starts is
# recorded by PID and killed on exit; every wait polls a condition until a
# deadline. Environment (from tests/include.am): OCTOMQTTD, FREEPORT,
# MOSQUITTO, OCTOMQTTD_SHARED.

set -u

T=$(mktemp -d "${TMPDIR:-/tmp}/octomqttd-test.XXXXXX") || exit 99
PIDS=""

cleanup() {
	for pid in $PIDS; do
		kill "$pid" 2>/dev/null
	done
	for pid in $PIDS; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Print logs that help to see why a test failed.
dump_logs() {
	for f in "$T"/daemon*.log "$T"/broker*.log; do
		[ -f "$f" ] || continue
		echo "---- $f (last 40 lines)"
		tail -n 40 "$f"
	done
}

fail() {
	echo "FAIL: $*"
	dump_logs
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# need TOOL...: skip the test when a tool is missing.
need() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || skip "$tool not found"
	done
}

# forget PID: the process has ended; stop tracking it.
forget() {
	_keep=""
	for pid in $PIDS; do
		[ "$pid" = "$1" ] || _keep="$_keep $pid"
	done
	PIDS=$_keep
}

# wait_for DESCRIPTION SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
	_desc=$1
	_secs=$2
	shift 2
	_tries=$((_secs * 20))
	while ! "$@" >/dev/null 2>&1; do
		_tries=$((_tries - 1))
		[ "$_tries" -gt 0 ] || fail "timed out after ${_secs} s waiting for: $_desc"
		sleep 0.05
	done
}

# The read and write descriptors of make's jobserver, if any: a broker
# that inherits them keeps `make -j` waiting.
jobserver_fds() {
	printf '%s\n' "${MAKEFLAGS:-}" | tr ' ' '\n' |
		sed -n 's/^--jobserver-\(auth\|fds\)=\([0-9][0-9]*\),\([0-9][0-9]*\)$/\2 \3/p' |
		head -n 1
}

# start_broker [PORT]: mosquitto on 127.0.0.1 (a free port unless given).
# Extra config lines may be set in BROKER_EXTRA. Sets BROKER_PORT, BROKER_PID.
start_broker() {
	need mosquitto_sub mosquitto_pub
	[ -n "${MOSQUITTO:-}" ] || MOSQUITTO=$(command -v mosquitto) || skip "mosquitto not found"
	_fixed=${1:-}
	_attempt=0
	while :; do
		_attempt=$((_attempt + 1))
		BROKER_PORT=${_fixed:-$("$FREEPORT")}
		_conf="$T/broker-$BROKER_PORT.conf"
		{
			echo "listener $BROKER_PORT 127.0.0.1"
			echo "allow_anonymous true"
			# As root, mosquitto would switch to its own user, which
			# cannot write the test's private directory.
			echo "user $(id -un)"
			printf '%s\n' "${BROKER_EXTRA:-persistence false}"
		} >"$_conf"
		_fds=$(jobserver_fds)
		(
			for fd in $_fds; do
				eval "exec $fd>&-"
			done
			exec "$MOSQUITTO" -c "$_conf"
		) >>"$T/broker.log" 2>&1 &
		BROKER_PID=$!
		PIDS="$PIDS $BROKER_PID"
		# Either it listens, or it died (port taken since freeport looked).
		_tries=200
		while ! "$FREEPORT" -w "$BROKER_PORT" 0 2>/dev/null; do
			kill -0 "$BROKER_PID" 2>/dev/null || break
			_tries=$((_tries - 1))
			[ "$_tries" -gt 0 ] || fail "mosquitto did not listen on $BROKER_PORT"
			sleep 0.05
		done
		kill -0 "$BROKER_PID" 2>/dev/null && return 0
		wait "$BROKER_PID" 2>/dev/null
		forget "$BROKER_PID"
		[ -z "$_fixed" ] && [ "$_attempt" -lt 3 ] || fail "mosquitto did not start on port $BROKER_PORT"
	done
}

stop_broker() {
	kill "$BROKER_PID" 2>/dev/null
	wait "$BROKER_PID" 2>/dev/null
	forget "$BROKER_PID"
	"$FREEPORT" -c "$BROKER_PORT" 10 || fail "broker port $BROKER_PORT still open"
}

# daemon_conf FILE [KEY=VALUE lines on stdin appended]: a config for
# 127.0.0.1:$BROKER_PORT with a free HTTP port (sets HTTP_PORT).
daemon_conf() {
	HTTP_PORT=$("$FREEPORT")
	{
		echo "broker.url = 127.0.0.1"
		echo "broker.port = $BROKER_PORT"
		echo "broker.reconnect_min = 1"
		echo "broker.reconnect_max = 1"
		echo "broker.keepalive = 5"
		echo "http.listen = 127.0.0.1:$HTTP_PORT"
		echo "log.level = debug"
		cat
	} >"$1"
}

# start_daemon CONF [LOG]: run octomqttd; sets DAEMON_PID and DAEMON_LOG.
start_daemon() {
	DAEMON_LOG=${2:-$T/daemon.log}
	"$OCTOMQTTD" -c "$1" 2>>"$DAEMON_LOG" &
	DAEMON_PID=$!
	PIDS="$PIDS $DAEMON_PID"
	_port=$(sed -n 's/^http.listen = 127.0.0.1://p' "$1")
	wait_for "octomqttd to listen on $_port" 10 "$FREEPORT" -w "$_port" 0
}

# stop_daemon: SIGTERM; it must exit 0 within shutdown.grace + 5 s.
stop_daemon() {
	kill -TERM "$DAEMON_PID" || fail "octomqttd (pid $DAEMON_PID) is not running"
	_tries=200
	while kill -0 "$DAEMON_PID" 2>/dev/null; do
		_tries=$((_tries - 1))
		[ "$_tries" -gt 0 ] || fail "octomqttd did not exit after SIGTERM"
		sleep 0.05
	done
	wait "$DAEMON_PID"
	_rc=$?
	forget "$DAEMON_PID"
	[ "$_rc" -eq 0 ] || fail "octomqttd exited with $_rc after SIGTERM"
}

# log_has PATTERN: the daemon log contains a line matching PATTERN.
log_has() {
	grep -q -- "$1" "$DAEMON_LOG"
}

# start_sub TOPIC FILE [mosquitto_sub options]: a subscriber printing
# "topic payload" lines to FILE, live before this returns. It also
# subscribes to a probe topic, published until it arrives, so no later
# message can be missed. Probe lines start with "octomqttd-test/".
start_sub() {
	_topic=$1
	_file=$2
	shift 2
	mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -v -t "$_topic" -t 'octomqttd-test/probe' \
		"$@" >>"$_file" 2>>"$T/sub.log" &
	SUB_PID=$!
	PIDS="$PIDS $SUB_PID"
	_tries=200
	while ! grep -q '^octomqttd-test/probe ' "$_file"; do
		mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t 'octomqttd-test/probe' -m ready ||
			fail "mosquitto_pub failed"
		_tries=$((_tries - 1))
		[ "$_tries" -gt 0 ] || fail "subscriber on $_topic never became live"
		sleep 0.05
	done
}

stop_sub() {
	kill "$SUB_PID" 2>/dev/null
	wait "$SUB_PID" 2>/dev/null
	forget "$SUB_PID"
}

# messages FILE: the subscriber's lines without the probes.
messages() {
	grep -v '^octomqttd-test/' "$1"
}

# count_messages FILE N: true when FILE holds at least N messages.
count_messages() {
	[ "$(messages "$1" | wc -l)" -ge "$2" ]
}

# post PATH [BODY]: POST to the daemon; sets CODE and writes the answer
# body to $T/body. Without BODY no body and no Content-Length are sent.
post() {
	if [ $# -ge 2 ]; then
		CODE=$(curl -sS -o "$T/body" -w '%{http_code}' -X POST --data-binary "$2" \
			"http://127.0.0.1:$HTTP_PORT$1") || fail "curl POST $1 failed"
	else
		CODE=$(curl -sS -o "$T/body" -w '%{http_code}' -X POST \
			"http://127.0.0.1:$HTTP_PORT$1") || fail "curl POST $1 failed"
	fi
}

# expect_answer CODE BODY: the last answer, exactly.
expect_answer() {
	[ "$CODE" = "$1" ] || fail "expected HTTP $1, got $CODE: $(cat "$T/body")"
	[ "$(cat "$T/body")" = "$2" ] || fail "expected body $2, got $(cat "$T/body")"
}

[ -x "${OCTOMQTTD:-}" ] || fail "OCTOMQTTD is not set to the built daemon"
[ -x "${FREEPORT:-}" ] || fail "FREEPORT is not set to tests/tools/freeport"
need curl
