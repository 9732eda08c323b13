#!/bin/sh
# cli.sh: the command line of DESIGN §3 and octomqttd(8): -V, -h, bad
# options, -t on good and bad files, config errors at start-up (exit 78),
# a missing file; then a running daemon: a second one on its port exits 1
# naming the address, SIGHUP is logged and ignored, SIGTERM exits 0. No
# broker is needed (the daemon retries 127.0.0.1:1 meanwhile).
# Environment: OCTOMQTTD, the built binary; FREEPORT (tests/tools/freeport)
# for the running part, skipped without it. Exit 0 pass, 1 fail, 77 skip.

set -u

: "${OCTOMQTTD:?set OCTOMQTTD to the octomqttd binary}"
[ -x "$OCTOMQTTD" ] || {
	echo "SKIP: $OCTOMQTTD not built"
	exit 77
}

T=$(mktemp -d "${TMPDIR:-/tmp}/octomqttd-cli.XXXXXX") || exit 99
DAEMON=""
cleanup() {
	if [ -n "$DAEMON" ]; then
		kill "$DAEMON" 2>/dev/null
		wait "$DAEMON" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

FAILED=0

fail() {
	echo "FAIL: $*"
	FAILED=1
}

# run ARGS...: run the daemon with stdin closed; sets RC, OUT and ERR
# (file contents). A timeout guards against a start-up that does not exit.
run() {
	if command -v timeout >/dev/null 2>&1; then
		timeout 10 "$OCTOMQTTD" "$@" <&- >"$T/out" 2>"$T/err"
	else
		"$OCTOMQTTD" "$@" <&- >"$T/out" 2>"$T/err"
	fi
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

expect_rc() {
	[ "$RC" -eq "$1" ] || fail "$2: exit $RC, expected $1 (stdout: $OUT; stderr: $ERR)"
}

# -V: exactly the version line, with configure's version
# (build-aux/git-version-gen).
run -V
expect_rc 0 "-V"
[ "$OUT" = "octomqttd ${PACKAGE_VERSION:?}" ] || fail "-V printed '$OUT', not 'octomqttd $PACKAGE_VERSION'"

# -h: usage on stdout, exit 0, mentions -c.
run -h
expect_rc 0 "-h"
case $OUT in
*usage:*-c*) ;;
*) fail "-h output lacks usage / -c: '$OUT'" ;;
esac
[ -z "$ERR" ] || fail "-h wrote to stderr: '$ERR'"

# A bad option and a stray argument: usage on stderr, exit 64.
run -x
expect_rc 64 "bad option"
case $ERR in
*usage:*) ;;
*) fail "bad option: no usage on stderr: '$ERR'" ;;
esac
[ -z "$OUT" ] || fail "bad option wrote to stdout: '$OUT'"
run -c
expect_rc 64 "-c without a file"
run -t stray
expect_rc 64 "stray argument"

# Quoting keeps '#' in a value; the topic rules then refuse it.
cat >"$T/hash.conf" <<'EOF'
broker.url = 127.0.0.1
publish.baseTopic = "printers/p#1/"
EOF
run -t -c "$T/hash.conf"
expect_rc 1 "-t with '#' in baseTopic"
case $ERR in
"$T/hash.conf:2: publish.baseTopic: "*) ;;
*) fail "-t baseTopic with '#': '$ERR'" ;;
esac

# -t on a good file: "FILE: configuration OK" on stdout, exit 0. -t
# neither connects nor listens, so these addresses are never used.
cat >"$T/ok.conf" <<'EOF'
# a comment
broker.url = mqtt://127.0.0.1:1
http.listen = 127.0.0.1:1   # never bound by -t
publish.baseTopic = "printers/p 1/"
EOF
run -t -c "$T/ok.conf"
expect_rc 0 "-t ok"
[ "$OUT" = "$T/ok.conf: configuration OK" ] || fail "-t ok printed '$OUT'"
[ -z "$ERR" ] || fail "-t ok wrote to stderr: '$ERR'"

# -t on a bad file: FILE:LINE: message on stderr, exit 1.
printf 'broker.url = 127.0.0.1\n\nbroker.keepalive = 6O\n' >"$T/bad.conf"
run -t -c "$T/bad.conf"
expect_rc 1 "-t bad"
[ "$ERR" = "$T/bad.conf:3: broker.keepalive: expected an integer from 0 to 65535, got '6O'" ] ||
	fail "-t bad printed '$ERR'"
[ -z "$OUT" ] || fail "-t bad wrote to stdout: '$OUT'"

printf 'broker.url = 127.0.0.1\nbroker.port = 1\nbroker.port = 2\n' >"$T/dup.conf"
run -t -c "$T/dup.conf"
expect_rc 1 "-t duplicate"
[ "$ERR" = "$T/dup.conf:3: duplicate key 'broker.port' (first set on line 2)" ] ||
	fail "-t duplicate printed '$ERR'"

# Start-up with a bad config: the same message, exit 78 (EX_CONFIG).
printf 'broker.urll = 127.0.0.1\n' >"$T/unknown.conf"
run -c "$T/unknown.conf"
expect_rc 78 "start-up with a bad config"
[ "$ERR" = "$T/unknown.conf:1: unknown key 'broker.urll'" ] ||
	fail "start-up with a bad config printed '$ERR'"

printf 'log.level = debug\n' >"$T/nourl.conf"
run -c "$T/nourl.conf"
expect_rc 78 "start-up without broker.url"
[ "$ERR" = "$T/nourl.conf: broker.url is required" ] || fail "missing url printed '$ERR'"

# A missing file: named, with the reason; 78 at start-up, 1 with -t.
run -c "$T/missing.conf"
expect_rc 78 "missing file"
[ "$ERR" = "$T/missing.conf: cannot read: No such file or directory" ] ||
	fail "missing file printed '$ERR'"
run -t -c "$T/missing.conf"
expect_rc 1 "-t missing file"

# A running daemon. Every wait below polls until a deadline.
if [ -n "${FREEPORT:-}" ] && [ -x "$FREEPORT" ]; then
	PORT=$("$FREEPORT") || fail "freeport failed"
	printf 'broker.url = 127.0.0.1:1\nhttp.listen = 127.0.0.1:%s\nshutdown.grace = 1\n' \
		"$PORT" >"$T/run.conf"
	"$OCTOMQTTD" -c "$T/run.conf" <&- >"$T/daemon.out" 2>"$T/daemon.log" &
	DAEMON=$!
	"$FREEPORT" -w "$PORT" 10 || fail "the daemon does not listen on $PORT: $(cat "$T/daemon.log")"
	# The line follows the listen() that freeport saw: poll for it (5 s).
	n=0
	until grep -q "listening on 127.0.0.1:$PORT, broker 127.0.0.1:1" "$T/daemon.log"; do
		n=$((n + 1))
		[ "$n" -le 100 ] || fail "no 'listening on' line: $(cat "$T/daemon.log")"
		sleep 0.05
	done

	run -c "$T/run.conf"
	expect_rc 1 "second daemon on a busy port"
	case $ERR in
	*"127.0.0.1:$PORT: Address already in use"*) ;;
	*) fail "busy port message: '$ERR'" ;;
	esac

	# queue.spool: a directory that is missing, and one in use.
	printf 'broker.url = 127.0.0.1:1\nhttp.listen = 127.0.0.1:1\nqueue.spool = %s/none\n' \
		"$T" >"$T/spool.conf"
	run -c "$T/spool.conf"
	expect_rc 1 "missing spool directory"
	case $ERR in
	*"queue.spool $T/none: No such file or directory"*) ;;
	*) fail "missing spool message: '$ERR'" ;;
	esac
	mkdir "$T/spool"
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$T/spool/queue.spool.lock"
		flock -n 9 || fail "flock on the test's own lock file failed"
		printf 'broker.url = 127.0.0.1:1\nhttp.listen = 127.0.0.1:1\nqueue.spool = %s/spool\n' \
			"$T" >"$T/spool.conf"
		run -c "$T/spool.conf"
		expect_rc 1 "spool in use"
		case $ERR in
		*"queue.spool $T/spool: in use by another octomqttd"*) ;;
		*) fail "spool in use message: '$ERR'" ;;
		esac
		exec 9>&-
	fi

	# A damaged state.file stops the start with 78 (EX_CONFIG, issue 18;
	# it was 1 before), naming the file, what is wrong and what to do.
	printf '{"octomqttd_subscriptions":1,"subscriptions":{' >"$T/state.json"
	printf 'broker.url = 127.0.0.1:1\nhttp.listen = 127.0.0.1:1\nstate.file = %s/state.json\n' \
		"$T" >"$T/state.conf"
	run -c "$T/state.conf"
	expect_rc 78 "damaged state file"
	case $ERR in
	*"state.file $T/state.json is damaged ("*"); nothing was changed"*"move it aside (mv $T/state.json $T/state.json.bad)"*) ;;
	*) fail "damaged state file message: '$ERR'" ;;
	esac
	[ "$(cat "$T/state.json")" = '{"octomqttd_subscriptions":1,"subscriptions":{' ] ||
		fail "the damaged state file was changed"
	# An empty one is damaged too: never a silent fresh start.
	: >"$T/state.json"
	run -c "$T/state.conf"
	expect_rc 78 "empty state file"
	case $ERR in
	*"state.file $T/state.json is damaged"*"move it aside"*) ;;
	*) fail "empty state file message: '$ERR'" ;;
	esac
	# One that cannot be read (a directory: root reads any file): 78.
	rm -f "$T/state.json"
	mkdir "$T/state.json"
	run -c "$T/state.conf"
	expect_rc 78 "unreadable state file"
	case $ERR in
	*"state.file $T/state.json cannot be read ("*"move it aside"*) ;;
	*) fail "unreadable state file message: '$ERR'" ;;
	esac
	rmdir "$T/state.json"

	# wait_log TEXT: poll the daemon's log for TEXT for up to 10 s.
	wait_log() {
		_n=0
		while ! grep -q "$1" "$T/daemon.log"; do
			_n=$((_n + 1))
			[ "$_n" -le 100 ] || return 1
			sleep 0.1
		done
	}
	kill -HUP "$DAEMON"
	wait_log "SIGHUP ignored; restart octomqttd to reload its configuration" ||
		fail "SIGHUP not logged: $(cat "$T/daemon.log")"
	kill -0 "$DAEMON" 2>/dev/null || fail "the daemon died of SIGHUP"

	kill -TERM "$DAEMON"
	_n=0
	while kill -0 "$DAEMON" 2>/dev/null; do
		_n=$((_n + 1))
		[ "$_n" -le 100 ] || break
		sleep 0.1
	done
	if kill -0 "$DAEMON" 2>/dev/null; then
		fail "the daemon still runs 10 s after SIGTERM"
	else
		wait "$DAEMON"
		RC=$?
		DAEMON=""
		[ "$RC" -eq 0 ] || fail "SIGTERM: exit $RC, expected 0: $(cat "$T/daemon.log")"
	fi
else
	echo "note: FREEPORT not set; the running-daemon checks are skipped"
fi

if [ "$FAILED" -ne 0 ]; then
	exit 1
fi
echo "PASS: cli"
exit 0
