# contrib/soak-lib.sh: what contrib/soak-mqtt and contrib/soak share.
# Sourced, not run: the script sets SOAK_NAME (its name in messages),
# SOAK_SECONDS and SOAK_INBOUND_RATE first, then calls, in this order,
# soak_programs "$@", soak_tmpdir, soak_broker_conf, start_broker, ...
# Everything started is remembered in PIDS and killed by PID on exit.
# shellcheck shell=sh

LIMIT=20 # seconds allowed for any one thing to start or settle

die() {
	echo "$SOAK_NAME: $*" >&2
	for f in "${T:-/nonexistent}"/*.log; do
		[ -s "$f" ] || continue
		echo "---- $f (last 20 lines)" >&2
		tail -n 20 "$f" >&2
	done
	exit 1
}

say() {
	echo "$SOAK_NAME: $(date +%H:%M:%S) $*" >&2
}

# number NAME VALUE: VALUE is a whole number above 0.
number() {
	case $2 in
	'' | *[!0-9]*) die "$1 must be a whole number, got '$2'" ;;
	esac
	[ "$2" -gt 0 ] || die "$1 must be above 0"
}

# soak_programs [BUILDDIR]: OCTOMQTTD, LOADGEN, FREEPORT from the
# environment or built in BUILDDIR; MOSQUITTO; the tools in PATH.
soak_programs() {
	if [ -z "${OCTOMQTTD:-}" ] || [ -z "${LOADGEN:-}" ] || [ -z "${FREEPORT:-}" ]; then
		src=$(cd "$(dirname "$0")/.." && pwd)
		if [ $# -ge 1 ]; then
			bdir=$1
		elif [ -f "$src/Makefile" ]; then
			bdir=$src
		else
			bdir=$src/build
		fi
		[ -f "$bdir/Makefile" ] ||
			die "$bdir is not configured: autoreconf -fi && ./configure && make (or give BUILDDIR)"
		bdir=$(cd "$bdir" && pwd)
		make -s -C "$bdir" all contrib/loadgen tests/tools/freeport >&2 ||
			die "building in $bdir failed"
		OCTOMQTTD=${OCTOMQTTD:-$bdir/octomqttd}
		LOADGEN=${LOADGEN:-$bdir/contrib/loadgen}
		FREEPORT=${FREEPORT:-$bdir/tests/tools/freeport}
	fi
	MOSQUITTO=${MOSQUITTO:-}
	if [ -z "$MOSQUITTO" ]; then
		MOSQUITTO=$(command -v mosquitto 2>/dev/null || echo /usr/sbin/mosquitto)
	fi
	for p in "$OCTOMQTTD" "$LOADGEN" "$FREEPORT" "$MOSQUITTO"; do
		[ -x "$p" ] || die "$p not found or not executable"
	done
	for tool in curl mosquitto_sub mosquitto_pub; do
		command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
	done
	[ -x /usr/bin/python3 ] || die "/usr/bin/python3 not found (reads GET /status)"
}

# ---- processes: tracked by PID, killed on any exit ----
soak_tmpdir() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/octomqttd-soak.XXXXXX") || exit 1
	PIDS=""
	trap soak_cleanup EXIT
	trap 'exit 1' HUP INT PIPE TERM
}

soak_cleanup() {
	trap - EXIT HUP INT PIPE TERM
	for pid in $PIDS; do
		kill -CONT "$pid" 2>/dev/null
		kill "$pid" 2>/dev/null
	done
	for pid in $PIDS; do
		wait "$pid" 2>/dev/null
	done
	if [ "${SOAK_KEEP:-0}" = 1 ]; then
		echo "$SOAK_NAME: logs kept in $T" >&2
	else
		rm -rf "$T"
	fi
}

forget() {
	_keep=""
	for pid in $PIDS; do
		[ "$pid" = "$1" ] || _keep="$_keep $pid"
	done
	PIDS=$_keep
}

alive() { kill -0 "$1" 2>/dev/null; }

# until_ok WHAT SECS CMD...: run CMD every 0.1 s until it succeeds; give
# up after SECS seconds.
until_ok() {
	_what=$1
	_secs=$2
	_end=$(($(date +%s) + _secs))
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$_end" ] || die "$_what: not within $_secs s"
		sleep 0.1
	done
}

listening() { "$FREEPORT" -w "$1" 0; }

# ---- the broker: one port, one database, restarted by PID ----
soak_broker_conf() {
	BPORT=$("$FREEPORT") || die "freeport failed"
	mkdir "$T/db"
	{
		echo "listener $BPORT 127.0.0.1"
		echo "allow_anonymous true"
		echo "persistence true"
		echo "persistence_location $T/db/"
		# The persistent subscriber and the daemon's session may be away for
		# a while at each restart: keep what arrives for them meanwhile.
		echo "max_queued_messages 1000000"
		echo "log_dest file $T/broker.log"
		echo "log_type error"
		echo "log_type warning"
		echo "log_type notice"
		echo "log_type information"
		[ "$(id -u)" -eq 0 ] && echo "user $(id -un)"
	} >"$T/broker.conf"
}

start_broker() {
	"$MOSQUITTO" -c "$T/broker.conf" >>"$T/broker.out" 2>&1 &
	BPID=$!
	PIDS="$PIDS $BPID"
	until_ok "mosquitto listening on $BPORT" "$LIMIT" listening "$BPORT"
}

stop_broker() {
	kill "$BPID" 2>/dev/null
	wait "$BPID" 2>/dev/null
	forget "$BPID"
	"$FREEPORT" -c "$BPORT" "$LIMIT" || die "broker port $BPORT still open"
}

# start_subscriber FILTER...: a QoS 1 subscriber with a persistent session
# (mosquitto_sub -c), lines "topic payload" in $T/sub.out; waits until a
# probe message comes through.
PROBE=soak/probe
start_subscriber() {
	_filters=""
	for _f in "$@" "$PROBE"; do
		_filters="$_filters -t $_f"
	done
	# shellcheck disable=SC2086 # one word each
	mosquitto_sub -h 127.0.0.1 -p "$BPORT" -c -i soak-sub -q 1 -v $_filters \
		>"$T/sub.out" 2>>"$T/sub.log" &
	SUBPID=$!
	PIDS="$PIDS $SUBPID"
	until_ok "the subscriber to be live" "$LIMIT" probe_seen
}

probe_seen() {
	mosquitto_pub -h 127.0.0.1 -p "$BPORT" -q 1 -t "$PROBE" -m ready 2>/dev/null
	grep -q "^$PROBE " "$T/sub.out"
}

# ---- the daemon's HTTP API on 127.0.0.1:$HPORT (the script sets HPORT) ----
# shellcheck disable=SC2153
healthy() {
	[ "$(curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$HPORT/health")" = 200 ]
}

# subscribe_webhook TOPIC URL: POST /subscriptions, 201 expected.
subscribe_webhook() {
	_code=$(curl -s --noproxy '*' --max-time 5 -o "$T/sub-answer" -w '%{http_code}' \
		-d "{\"topic\":\"$1\",\"url\":\"$2\"}" "http://127.0.0.1:$HPORT/subscriptions")
	[ "$_code" = 201 ] || die "POST /subscriptions answered $_code: $(cat "$T/sub-answer")"
}

# status_json: GET /status into $T/status.json (or STATUS_FILE).
status_json() {
	curl -s --noproxy '*' --max-time 5 -o "${STATUS_FILE:-$T/status.json}" \
		"http://127.0.0.1:$HPORT/status"
}

# status_get PATH...: members of the last /status (counters.NAME or NAME),
# one a line, "-" for an absent one. STATUS_FILE overrides the file.
status_get() {
	/usr/bin/python3 - "${STATUS_FILE:-$T/status.json}" "$@" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    s = {}
for path in sys.argv[2:]:
    v = s
    for k in path.split("."):
        v = v.get(k, "-") if isinstance(v, dict) else "-"
    print(v if not isinstance(v, dict) else "-")
PY
}

# kv FILE KEY: the value of KEY=... in a one-line key=value report.
kv() {
	tr ' ' '\n' <"$1" | sed -n "s/^$2=//p" | tail -n 1
}

# Inbound: numbered QoS 1 messages to soak/in, SOAK_INBOUND_RATE a second
# on average, in batches of at most 25 (one mosquitto_pub each). A batch
# that fails (the broker is restarting or stopped) is sent again:
# duplicates are possible and counted, losses are not excused. Writes
# published= and failed_batches= to $T/inbound.out at the end.
inbound() {
	_timeout=""
	command -v timeout >/dev/null 2>&1 && _timeout="timeout 20"
	_seq=0
	_fails=0
	_t0=$(date +%s)
	while :; do
		_now=$(date +%s)
		[ "$_now" -lt "$((_t0 + SOAK_SECONDS))" ] || break
		_due=$(((_now - _t0 + 1) * SOAK_INBOUND_RATE))
		if [ "$_seq" -ge "$_due" ]; then
			sleep 0.05
			continue
		fi
		_n=$((_due - _seq))
		[ "$_n" -le 25 ] || _n=25
		_i=0
		while [ "$_i" -lt "$_n" ]; do
			printf '{%010d}\n' "$((_seq + _i))"
			_i=$((_i + 1))
		done >"$T/batch"
		# shellcheck disable=SC2086 # _timeout is a command and its argument
		until $_timeout mosquitto_pub -h 127.0.0.1 -p "$BPORT" -q 1 -t soak/in -l \
			<"$T/batch" 2>>"$T/pub.log"; do
			_fails=$((_fails + 1))
			sleep 0.2
		done
		_seq=$((_seq + _n))
	done
	echo "published=$_seq failed_batches=$_fails" >"$T/inbound.out"
}

start_inbound() {
	inbound &
	INPID=$!
	PIDS="$PIDS $INPID"
}

# wait_done SECS PID...: each PID (a load process that ends by itself)
# has ended within SECS seconds.
wait_done() {
	_secs=$1
	shift
	for _pid in "$@"; do
		_end=$(($(date +%s) + _secs))
		while alive "$_pid"; do
			[ "$(date +%s)" -lt "$_end" ] || die "a load process (pid $_pid) did not finish"
			sleep 0.2
		done
		wait "$_pid" 2>/dev/null
		forget "$_pid"
	done
}

# settle: wait (at most 120 s) until the daemon has nothing queued or in
# flight, holds no acknowledgement, and the webhook and the subscriber
# counts have been still for 5 s.
settle() {
	_settled_for=0
	_last=""
	_cur=""
	_end=$(($(date +%s) + 120))
	while [ "$(date +%s)" -lt "$_end" ]; do
		status_json
		_cur="$(status_get queue.messages inflight acks_held counters.webhook_delivered | tr '\n' ' ')"
		_cur="$_cur $(wc -l <"$T/sub.out")"
		# shellcheck disable=SC2086 # split into its words on purpose
		set -- $_cur
		if [ "$1" = 0 ] && [ "$2" = 0 ] && { [ "$3" = 0 ] || [ "$3" = - ]; } &&
			[ "$_cur" = "$_last" ]; then
			_settled_for=$((_settled_for + 1))
			[ "$_settled_for" -lt 5 ] || break
		else
			_settled_for=0
		fi
		_last=$_cur
		sleep 1
	done
	[ "$_settled_for" -ge 5 ] ||
		say "warning: not settled after 120 s (queue, inflight, acks_held, delivered, subscriber lines: $_cur)"
}

# stop_pid PID: SIGTERM, wait, forget.
stop_pid() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	forget "$1"
}
