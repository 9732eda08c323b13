#!/bin/sh
# inflight.sh: broker.max_inflight (issue 13, point 2; DESIGN §4). An
# MQTT 3.1.1 broker over its in-flight quota may answer a QoS 2 PUBLISH
# with PUBREC and discard it; mosquitto does. So the daemon must keep at
# most broker.max_inflight (default 20, mosquitto's default quota)
# outbound QoS 1/2 messages unacknowledged.
#
# Against mosquitto with its default settings and the daemon's default,
# then mosquitto with max_inflight_messages 5 and broker.max_inflight = 5:
# 200 concurrent POST /publish at QoS 2, each with its own payload, all
# answered 200; a QoS 2 subscriber (live before the first publish) gets
# every one of them exactly once. A last message published after the
# 200 (in order behind them) tells when everything has arrived.
# Then: broker.max_inflight 0 or 65001 is a config error naming the line.
#
# On the code before issue 13 this failed with:
#   FAIL: default: 68 of the 200 QoS 2 messages delivered (200 distinct
#   wanted), 68 lines in all; first missing: m022 m023 m024 m025 m026
# (98 in another run)
# (mosquitto acknowledged all 200 and discarded what came over its quota;
# with broker.max_inflight = 5 the old daemon did not start: unknown key).
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

N=200

healthy() {
	[ "$(hcurl -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health")" = 200 ]
}

# has_end FILE: the last message reached the subscriber.
has_end() {
	grep -q -x 'inflight/end end' "$1"
}

# run_case TAG DAEMON_LINES: broker (BROKER_EXTRA), subscriber, daemon with
# DAEMON_LINES added to its config, 200 concurrent QoS 2 publishes.
run_case() {
	_tag=$1
	start_broker
	# Not a pipe: daemon_conf sets HTTP_PORT in this shell.
	printf '%s\n' "$2" >"$T/extra-$_tag"
	daemon_conf "$T/d-$_tag.conf" false <"$T/extra-$_tag"
	start_sub 'inflight/#' "$T/sub-$_tag.out" -q 2
	start_daemon "$T/d-$_tag.conf" "$T/daemon-$_tag.log"
	wait_for "$_tag: the daemon to connect" 10 healthy

	# One curl, N transfers in parallel, one payload each: m000 .. m199.
	_i=0
	while [ "$_i" -lt "$N" ]; do
		printf 'url = "http://127.0.0.1:%s/publish"\n' "$HTTP_PORT"
		printf 'data = {"topic":"inflight/m","payload":"m%03d","qos":2}\n' "$_i"
		printf 'noproxy = "*"\nmax-time = 60\nsilent\nshow-error\noutput = /dev/null\n'
		printf 'write-out = "%%{http_code}\\n"\n'
		_i=$((_i + 1))
		[ "$_i" -lt "$N" ] && echo next
	done >"$T/curl-$_tag.cfg"
	curl --parallel --parallel-immediate --parallel-max "$N" -K "$T/curl-$_tag.cfg" \
		>"$T/codes-$_tag" 2>>"$T/curl.log" || fail "$_tag: curl failed: $(tail -n 3 "$T/curl.log")"
	_ok=$(grep -c -x 200 "$T/codes-$_tag")
	[ "$_ok" -eq "$N" ] || fail "$_tag: $_ok of $N publishes answered 200:" \
		"$(sort "$T/codes-$_tag" | uniq -c | tr '\n' ' ')"

	post /publish '{"topic":"inflight/end","payload":"end","qos":2}'
	expect_answer 200 '{"accepted":true}'
	# Polled for a while even when messages are missing, to report them.
	_end=$(($(date +%s) + 30))
	while ! has_end "$T/sub-$_tag.out" && [ "$(date +%s)" -lt "$_end" ]; do
		sleep 0.1
	done
	stop_sub
	messages "$T/sub-$_tag.out" | sed -n 's|^inflight/m ||p' >"$T/got-$_tag"
	_lines=$(wc -l <"$T/got-$_tag")
	_i=0
	while [ "$_i" -lt "$N" ]; do
		printf 'm%03d\n' "$_i"
		_i=$((_i + 1))
	done >"$T/want-$_tag"
	_distinct=$(sort -u "$T/got-$_tag" | comm -12 - "$T/want-$_tag" | wc -l)
	echo "$_tag: $_distinct of $N QoS 2 messages delivered, $_lines lines in all"
	if [ "$_distinct" -ne "$N" ] || [ "$_lines" -ne "$N" ]; then
		fail "$_tag: $_distinct of the $N QoS 2 messages delivered ($N distinct wanted)," \
			"$_lines lines in all; first missing:" \
			"$(sort -u "$T/got-$_tag" | comm -13 - "$T/want-$_tag" | head -n 5 | tr '\n' ' ')"
	fi
	has_end "$T/sub-$_tag.out" || fail "$_tag: the last message did not arrive"
	stop_daemon
	stop_broker
}

BROKER_EXTRA="persistence false"
run_case default ''

BROKER_EXTRA="persistence false
max_inflight_messages 5"
run_case quota5 'broker.max_inflight = 5'

# Bounds: 1 .. 65000; outside them an error naming the file and line.
for v in 1 65000 0 65001; do
	printf 'broker.url = 127.0.0.1\nbroker.max_inflight = %s\n' "$v" >"$T/bound.conf"
	"$OCTOMQTTD" -t -c "$T/bound.conf" >"$T/bound.out" 2>"$T/bound.err"
	rc=$?
	case $v in
	1 | 65000)
		[ "$rc" -eq 0 ] || fail "broker.max_inflight = $v refused: $(cat "$T/bound.err")"
		;;
	*)
		[ "$rc" -eq 1 ] || fail "broker.max_inflight = $v: octomqttd -t exited $rc, want 1"
		grep -q -F "$T/bound.conf:2: broker.max_inflight: " "$T/bound.err" ||
			fail "broker.max_inflight = $v: the error does not name the line and key:" \
				"$(cat "$T/bound.err")"
		;;
	esac
done
exit 0
