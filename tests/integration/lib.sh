# lib.sh: shared helpers for the integration tests (POSIX sh; sourced).
#
# Each tests/integration/*.sh sources this file. It makes a private
# directory $T, records every process the test starts by PID and, on any
# exit, kills those processes, waits for them and removes $T. Every wait
# polls a condition until a deadline; nothing relies on a bare sleep.
#
# Environment (tests/include.am): OCTOMQTTD, FREEPORT, TESTS_SRCDIR,
# MOSQUITTO (may be empty), OCTOMQTTD_SHARED.
#
# Helpers set these globals: BROKER_PORT, BROKER_PID (start_broker),
# HTTP_PORT (daemon_conf), DAEMON_PID, DAEMON_LOG, DAEMON_CONF
# (start_daemon), SUB_PID (start_sub), CODE (post, post_file).

# shellcheck shell=sh
set -u

T=$(mktemp -d "${TMPDIR:-/tmp}/octomqttd-test.XXXXXX") || exit 99
PIDS=""

# Kill what is left by PID (TERM, then KILL after 5 s), reap it, clean up.
cleanup() {
	trap - EXIT HUP INT PIPE TERM
	for pid in $PIDS; do
		kill "$pid" 2>/dev/null
	done
	_n=100
	for pid in $PIDS; do
		while kill -0 "$pid" 2>/dev/null && [ "$_n" -gt 0 ]; do
			_n=$((_n - 1))
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	PIDS=""
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

# Print the logs that show why a test failed.
dump_logs() {
	for f in "$T"/daemon*.log "$T"/broker*.log "$T"/broker*.out "$T"/sub*.log; do
		[ -s "$f" ] || continue
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
	for _tool in "$@"; do
		command -v "$_tool" >/dev/null 2>&1 || skip "$_tool not found"
	done
}

# forget PID: the process has been reaped; stop tracking it.
forget() {
	_keep=""
	for pid in $PIDS; do
		[ "$pid" = "$1" ] || _keep="$_keep $pid"
	done
	PIDS=$_keep
}

# wait_for DESCRIPTION SECONDS CMD...: run CMD every 0.05 s until it
# succeeds; fail naming DESCRIPTION once SECONDS have passed.
wait_for() {
	_desc=$1
	_end=$(($(date +%s) + $2 + 1))
	shift 2
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$_end" ] || fail "timed out waiting for: $_desc"
		sleep 0.05
	done
}

# The descriptors of make's jobserver pipe, from MAKEFLAGS
# (--jobserver-auth=R,W, or --jobserver-fds=R,W for make < 4.2). A
# fifo:PATH jobserver leaves no descriptor to close.
jobserver_fds() {
	printf '%s\n' "${MAKEFLAGS:-}" | tr ' ' '\n' | sed -n \
		-e 's/^--jobserver-auth=\([0-9][0-9]*\),\([0-9][0-9]*\)$/\1 \2/p' \
		-e 's/^--jobserver-fds=\([0-9][0-9]*\),\([0-9][0-9]*\)$/\1 \2/p' | head -n 1
}

# spawn CMD...: run CMD in the background without make's jobserver
# descriptors (a long-lived child holding them can stall `make -j`), and
# track it; sets SPAWNED. Redirect the call to redirect CMD.
spawn() {
	_fds=$(jobserver_fds)
	(
		_high=""
		for _fd in $_fds; do
			case $_fd in
			[0-2]) ;;
			[3-9]) eval "exec $_fd>&-" ;;
			# The shell can only name descriptors 0-9.
			*) _high="$_high $_fd" ;;
			esac
		done
		if [ -n "$_high" ] && [ -x /usr/bin/python3 ]; then
			exec /usr/bin/python3 -c '
import os, sys
for fd in sys.argv[1].split():
    try:
        os.close(int(fd))
    except OSError:
        pass
os.execvp(sys.argv[2], sys.argv[2:])
' "$_high" "$@"
		fi
		exec "$@"
	) &
	SPAWNED=$!
	PIDS="$PIDS $SPAWNED"
}

# alive PID: the process has not exited.
alive() {
	kill -0 "$1" 2>/dev/null
}

# not_alive PID: it has (for wait_for).
not_alive() { ! alive "$1"; }

# kv KEY FILE: KEY=value of the last line of FILE that has it (the
# result line of contrib/loadgen).
kv() {
	sed -n "s/^\(.* \)\{0,1\}$1=\([^ ]*\).*/\2/p" "$2" | tail -n 1
}

# find_mosquitto: make MOSQUITTO the path of the broker. configure may
# give a bare name, or nothing; mosquitto lives in /usr/sbin, often not
# in a user's PATH.
find_mosquitto() {
	_m=${MOSQUITTO:-mosquitto}
	case $_m in
	*/*) ;;
	*)
		if command -v "$_m" >/dev/null 2>&1; then
			_m=$(command -v "$_m")
		elif [ -x "/usr/sbin/$_m" ]; then
			_m=/usr/sbin/$_m
		fi
		;;
	esac
	[ -x "$_m" ] || skip "mosquitto not found (MOSQUITTO='${MOSQUITTO:-}')"
	MOSQUITTO=$_m
}

# start_broker [PORT]: mosquitto on 127.0.0.1:PORT (default: a free port,
# retried with another up to 3 times when the port was taken meanwhile).
# BROKER_EXTRA, if set, replaces "persistence false" in its config.
start_broker() {
	find_mosquitto
	need mosquitto_sub mosquitto_pub
	_fixed=${1:-}
	_attempt=0
	while :; do
		_attempt=$((_attempt + 1))
		BROKER_PORT=${_fixed:-$("$FREEPORT")} || fail "freeport failed"
		_conf="$T/broker-$BROKER_PORT.conf"
		{
			echo "listener $BROKER_PORT 127.0.0.1"
			echo "allow_anonymous true"
			printf '%s\n' "${BROKER_EXTRA:-persistence false}"
			echo "log_dest file $T/broker.log"
			echo "log_type all"
			# As root, mosquitto would switch to user "mosquitto",
			# which cannot write the test's private directory.
			echo "user $(id -un)"
		} >"$_conf"
		spawn "$MOSQUITTO" -c "$_conf" >>"$T/broker.out" 2>&1
		BROKER_PID=$SPAWNED
		# Either it listens, or it died (the port was taken since
		# freeport looked).
		_end=$(($(date +%s) + 11))
		while ! "$FREEPORT" -w "$BROKER_PORT" 0 2>/dev/null; do
			alive "$BROKER_PID" || break
			[ "$(date +%s)" -lt "$_end" ] || fail "mosquitto did not listen on $BROKER_PORT"
			sleep 0.05
		done
		alive "$BROKER_PID" && return 0
		wait "$BROKER_PID" 2>/dev/null
		forget "$BROKER_PID"
		if [ -n "$_fixed" ] || [ "$_attempt" -ge 3 ]; then
			fail "mosquitto did not start on port $BROKER_PORT"
		fi
	done
}

# stop_broker: TERM (mosquitto saves its database), reap, port closed.
stop_broker() {
	kill "$BROKER_PID" 2>/dev/null
	wait "$BROKER_PID" 2>/dev/null
	forget "$BROKER_PID"
	"$FREEPORT" -c "$BROKER_PORT" 10 || fail "broker port $BROKER_PORT still open"
}

# daemon_conf FILE TIMESTAMP: a config for the broker at
# 127.0.0.1:$BROKER_PORT, an HTTP port of its own (sets HTTP_PORT) and
# publish.timestamp = TIMESTAMP; more "key = value" lines from stdin. A
# line from stdin for broker.url, broker.port, broker.reconnect_min,
# broker.reconnect_max, broker.keepalive or log.level replaces the default
# written here.
daemon_conf() {
	HTTP_PORT=$("$FREEPORT") || fail "freeport failed"
	cat >"$1.extra"
	{
		for _kv in broker.url=127.0.0.1 "broker.port=$BROKER_PORT" \
			broker.reconnect_min=1 broker.reconnect_max=2 broker.keepalive=5 \
			log.level=debug "state.file=$T/state.json"; do
			grep -q "^${_kv%%=*} *=" "$1.extra" || echo "${_kv%%=*} = ${_kv#*=}"
		done
		echo "http.listen = 127.0.0.1:$HTTP_PORT"
		echo "publish.timestamp = $2"
		cat "$1.extra"
	} >"$1"
	rm -f "$1.extra"
}

# conf_value CONF KEY DEFAULT: the value of KEY in CONF.
conf_value() {
	_v=$(sed -n "s/^$2 *= *//p" "$1")
	echo "${_v:-$3}"
}

# start_daemon CONF [LOG]: run octomqttd -c CONF, stderr to LOG (default
# $T/daemon.log), until its HTTP port accepts connections.
start_daemon() {
	DAEMON_CONF=$1
	DAEMON_LOG=${2:-$T/daemon.log}
	spawn "$OCTOMQTTD" -c "$DAEMON_CONF" >>"$DAEMON_LOG" 2>&1
	DAEMON_PID=$SPAWNED
	_hport=$(conf_value "$DAEMON_CONF" http.listen '' | sed 's/.*://')
	_end=$(($(date +%s) + 11))
	while ! "$FREEPORT" -w "$_hport" 0 2>/dev/null; do
		if ! alive "$DAEMON_PID"; then
			wait "$DAEMON_PID"
			_rc=$?
			forget "$DAEMON_PID"
			fail "octomqttd exited with status $_rc at start-up"
		fi
		[ "$(date +%s)" -lt "$_end" ] || fail "octomqttd did not listen on $_hport"
		sleep 0.05
	done
}

# stop_daemon: SIGTERM; it must exit with status 0 within shutdown.grace
# + 5 seconds.
stop_daemon() {
	_grace=$(conf_value "$DAEMON_CONF" shutdown.grace 5)
	kill -TERM "$DAEMON_PID" || fail "octomqttd (pid $DAEMON_PID) is not running"
	_end=$(($(date +%s) + _grace + 5))
	while alive "$DAEMON_PID"; do
		[ "$(date +%s)" -lt "$_end" ] ||
			fail "octomqttd did not exit within $((_grace + 5)) s of SIGTERM"
		sleep 0.05
	done
	wait "$DAEMON_PID"
	_rc=$?
	forget "$DAEMON_PID"
	[ "$_rc" -eq 0 ] || fail "octomqttd exited with status $_rc after SIGTERM"
}

# log_count PATTERN: how many daemon log lines match the extended regular
# expression PATTERN.
log_count() {
	grep -c -E -- "$1" "$DAEMON_LOG"
}

# log_has PATTERN [N]: at least N (default 1) daemon log lines match.
log_has() {
	[ "$(log_count "$1")" -ge "${2:-1}" ]
}

# start_sub TOPIC FILE [mosquitto_sub options]: a subscriber printing
# "topic payload" lines to FILE, live before this returns. It also
# subscribes (in the same SUBSCRIBE) to a probe topic, published until a
# probe arrives, so no later message can be missed.
PROBE=octomqttd-test/probe
start_sub() {
	_topic=$1
	_file=$2
	shift 2
	spawn mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -v -t "$_topic" -t "$PROBE" "$@" \
		>>"$_file" 2>>"$T/sub.log"
	SUB_PID=$SPAWNED
	_end=$(($(date +%s) + 11))
	while ! grep -q "^$PROBE " "$_file"; do
		alive "$SUB_PID" || fail "mosquitto_sub on $_topic exited"
		[ "$(date +%s)" -lt "$_end" ] || fail "subscriber on $_topic never became live"
		mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t "$PROBE" -m ready 2>>"$T/sub.log" ||
			fail "mosquitto_pub failed"
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
	grep -a -v "^$PROBE " "$1"
}

# count_messages FILE N: FILE holds at least N messages.
count_messages() {
	[ "$(messages "$1" | wc -l)" -ge "$2" ]
}

# hcurl ARGS...: curl to the daemon, never through a proxy, never hanging.
hcurl() {
	curl -sS --noproxy '*' --max-time 10 "$@"
}

# post PATH [BODY]: POST BODY (bytes as given) to the daemon; sets CODE,
# the answer body goes to $T/body. Without BODY, no body and no
# Content-Length are sent.
post() {
	if [ $# -ge 2 ]; then
		printf '%s' "$2" >"$T/request"
		post_file "$1" "$T/request"
	else
		CODE=$(hcurl -o "$T/body" -w '%{http_code}' -X POST \
			"http://127.0.0.1:$HTTP_PORT$1") || fail "curl POST $1 failed"
	fi
}

# post_file PATH FILE: POST the bytes of FILE; sets CODE, body to $T/body.
post_file() {
	CODE=$(hcurl -o "$T/body" -w '%{http_code}' -X POST --data-binary "@$2" \
		"http://127.0.0.1:$HTTP_PORT$1") || fail "curl POST $1 failed"
}

# expect_answer CODE BODY: the last answer, exactly.
expect_answer() {
	[ "$CODE" = "$1" ] || fail "expected HTTP $1, got $CODE: $(cat "$T/body")"
	[ "$(cat "$T/body")" = "$2" ] || fail "expected body $2, got $(cat "$T/body")"
}

# expect_refused ERROR: the last answer is 503 {"accepted": false, "error":
# ERROR, "message": text}.
expect_refused() {
	[ "$CODE" = 503 ] || fail "expected HTTP 503 ($1), got $CODE: $(cat "$T/body")"
	/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1], encoding="utf-8"))
assert isinstance(m, dict), m
assert m.get("accepted") is False, m
assert m.get("error") == sys.argv[2], m
assert isinstance(m.get("message"), str) and m["message"], m
' "$T/body" "$1" || fail "bad 503 answer (want $1): $(cat "$T/body")"
}

[ -x "${OCTOMQTTD:-}" ] || fail "OCTOMQTTD is not set to the built daemon"
[ -x "${FREEPORT:-}" ] || fail "FREEPORT is not set to tests/tools/freeport"
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 not found"
need curl
