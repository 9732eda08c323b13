#!/bin/sh
# fakebroker.sh: the daemon against scripted brokers (issue 3, point 8).
# Each scenario in tests/fakebroker/*.fbs is played by tests/tools/fakebroker
# on a free port: it expects the daemon's packets byte for byte and answers
# with scripted bytes. This script starts the scenario, then the daemon
# pointed at it, triggers publishes with POST /events/{name} when the
# scenario says so (its "note" lines), and checks the scenario's exit
# status and the daemon's log.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

# shellcheck source=tests/integration/fb_lib.sh
. "$TESTS_SRCDIR/integration/fb_lib.sh"

# fb_daemon: start the daemon for the scenario with the settings the
# scenarios assume (common.fbs); "key = value" lines from stdin add to or
# replace them. Its log is $T/daemon-TAG.log.
fb_daemon() {
	cat >"$T/extra"
	for _kv in broker.client_id=fb-client broker.keepalive=60 broker.reconnect_min=1 \
		broker.reconnect_max=1 shutdown.grace=3; do
		grep -q "^${_kv%%=*} *=" "$T/extra" || echo "${_kv%%=*} = ${_kv#*=}"
	done >"$T/settings"
	cat "$T/extra" >>"$T/settings"
	daemon_conf "$T/d-$FB_TAG.conf" false <"$T/settings"
	start_daemon "$T/d-$FB_TAG.conf" "$T/daemon-$FB_TAG.log"
}

fb_has_note() {
	grep -q -x "note $1" "$FB_OUT"
}

# fb_note TEXT: wait until the scenario reached "note TEXT".
fb_note() {
	_end=$(($(date +%s) + 21))
	while ! fb_has_note "$1"; do
		alive "$FB_PID" || fail "$FB_TAG: the scenario ended before 'note $1'"
		[ "$(date +%s)" -lt "$_end" ] || fail "$FB_TAG: no 'note $1' within 20 s"
		sleep 0.05
	done
}

# fb_done: the scenario must end within 20 s, with status 0.
fb_done() {
	_end=$(($(date +%s) + 21))
	while alive "$FB_PID"; do
		[ "$(date +%s)" -lt "$_end" ] || fail "$FB_TAG: the scenario did not end within 20 s"
		sleep 0.05
	done
	wait "$FB_PID"
	_fb_rc=$?
	forget "$FB_PID"
	[ "$_fb_rc" -eq 0 ] || fail "$FB_TAG: the scenario failed (status $_fb_rc)"
	echo "ok: $FB_TAG"
}

# fb_healthy: the daemon is alive and answers GET /health with 200.
fb_healthy() {
	alive "$DAEMON_PID" || fail "$FB_TAG: octomqttd died"
	_code=$(hcurl -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health") ||
		fail "$FB_TAG: GET /health failed"
	[ "$_code" = 200 ] || fail "$FB_TAG: GET /health answered $_code: $(cat "$T/body")"
}

# fb_stop_after_up: at "note up", check /health, SIGTERM the daemon (the
# scenario expects `disconnected` and DISCONNECT), and the scenario ends.
fb_stop_after_up() {
	fb_note up
	fb_healthy
	stop_daemon
	fb_done
}

# at: "broker 127.0.0.1:PORT" as an extended regular expression.
at() {
	echo "broker 127\\.0\\.0\\.1:$BROKER_PORT"
}

# CONNACK refused with each return code: logged by name, backoff, retry.
for rc in 1 2 3 4 5; do
	case $rc in
	1) why="unacceptable protocol version" ;;
	2) why="identifier rejected" ;;
	3) why="server unavailable" ;;
	4) why="bad user name or password" ;;
	5) why="not authorized" ;;
	esac
	fb_start connack_refused "refused-$rc" -D "RC=0$rc"
	fb_daemon </dev/null
	fb_stop_after_up
	log_has "warn: $(at) refused the connection: $why \\($rc\\); retrying in 1\\.0 s" ||
		fail "refused-$rc: the refusal was not logged by name"
	log_has "info: connected to broker" || fail "refused-$rc: the retry did not connect"
	log_has "info: disconnected from broker" || fail "refused-$rc: no clean disconnect"
done

# No PINGRESP: PINGREQ after keepalive s of silence either way, dead when
# it has no answer keepalive s later, reconnect (issue 13).
fb_start no_pingresp no-pingresp
fb_daemon <<EOF
broker.keepalive = 2
EOF
fb_done
log_has "warn: $(at): no PINGRESP within 2 s, reconnecting; retrying in 1\\.0 s" ||
	fail "no-pingresp: the dead link was not logged"
log_has "info: connected to broker" 2 || fail "no-pingresp: no reconnect"
stop_daemon

# A QoS 1 flow cut; the reconnect resumes the session (DUP) or not.
for sp in 1 0; do
	if [ "$sp" = 1 ]; then resent=3a; else resent=32; fi
	fb_start qos1_drop "qos1-drop-sp$sp" -D "SP=0$sp" -D "RESENT=$resent"
	fb_daemon <<EOF
broker.clean_session = false
publish.qos = 1
EOF
	fb_note post
	post /events/Q1 ''
	expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Q1"}'
	# Posted once the daemon knows the link is gone: it goes to the queue.
	fb_note down
	wait_for "qos1-drop-sp$sp: the daemon to see the close" 10 \
		log_has "$(at) closed the connection"
	post /events/Later ''
	expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Later"}'
	fb_stop_after_up
done

# A QoS 2 flow cut after PUBREC: PUBREL re-sent on the resumed session.
fb_start qos2_drop qos2-drop
fb_daemon <<EOF
broker.clean_session = false
publish.qos = 2
EOF
fb_note post
post /events/Q2 ''
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Q2"}'
fb_stop_after_up
log_has "info: connected to broker 127\\.0\\.0\\.1:$BROKER_PORT \\(session resumed\\)" ||
	fail "qos2-drop: the resumed session was not logged"

# A QoS 2 flow cut before PUBREC: the PUBLISH is re-sent, with DUP on the
# resumed session, as a new message (DUP clear) when the session is gone.
for sp in 1 0; do
	if [ "$sp" = 1 ]; then resent=3c; else resent=34; fi
	fb_start qos2_drop_publish "qos2-drop-publish-sp$sp" -D "SP=0$sp" -D "RESENT=$resent"
	fb_daemon <<EOF
broker.clean_session = false
publish.qos = 2
EOF
	fb_note post
	post /events/Q2 ''
	expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Q2"}'
	fb_stop_after_up
	if [ "$sp" = 1 ]; then
		log_has "info: connected to broker 127\\.0\\.0\\.1:$BROKER_PORT \\(session resumed\\)" ||
			fail "qos2-drop-publish-sp1: the resumed session was not logged"
	elif log_has "session resumed"; then
		fail "qos2-drop-publish-sp0: a session was resumed"
	fi
done

# An inbound QoS 2 duplicate: acknowledged twice, handled once.
fb_start inbound_qos2_dup inbound-qos2-dup
fb_daemon </dev/null
fb_stop_after_up
[ "$(log_count "$(at): message on 'in/dup'")" -eq 1 ] ||
	fail "inbound-qos2-dup: the message was not handled exactly once"
log_has "debug: $(at): duplicate QoS 2 message id 7 on 'in/dup' not delivered again" ||
	fail "inbound-qos2-dup: the duplicate was not logged"

# Malformed and oversized packets: dropped, logged, reconnect, still alive.
fb_start bad_connack bad-connack
fb_daemon </dev/null
fb_stop_after_up
log_has "warn: $(at) sent a malformed CONNACK packet, connection dropped; retrying in" ||
	fail "bad-connack: not logged"

fb_start bad_packet bad-remaining-5 -D "BAD=30 ff ff ff ff 01"
fb_daemon </dev/null
fb_stop_after_up
log_has "warn: $(at) sent a malformed PUBLISH packet, connection dropped; retrying in" ||
	fail "bad-remaining-5: not logged"

# 100 bytes of payload: over broker.max_packet = 64.
BIG='"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"'
fb_start bad_packet bad-too-large -D "BAD=30 [ s\"big\" $BIG ]"
fb_daemon <<EOF
broker.max_packet = 64
EOF
fb_stop_after_up
log_has "warn: $(at) sent a PUBLISH packet larger than broker.max_packet \\(64 bytes\\), connection dropped; retrying in" ||
	fail "bad-too-large: not logged"

# The will: not retained here; no PUBACK for `disconnected` at SIGTERM ->
# no DISCONNECT, closed after shutdown.grace, exit status 0.
fb_start will_no_ack will-no-ack
fb_daemon <<EOF
broker.lwRetain = false
shutdown.grace = 1
EOF
fb_note up
fb_healthy
stop_daemon
fb_done
log_has "warn: shutdown\\.grace \\(1 s\\) passed before the broker connection closed" ||
	fail "will-no-ack: the grace timeout was not logged"

# No will topic: no will, no status messages, DISCONNECT at once.
fb_start no_will no-will
fb_daemon <<EOF
publish.lwTopic =
EOF
fb_stop_after_up
exit 0
