#!/bin/sh
# octoprint_plugin.sh: the OctoPrint plugin of contrib/octoprint under the
# stub OctoPrint (tests/octoprint) against a real octomqttd and mosquitto,
# with a consumer that calls it as OctoPrint-HomeAssistant does
# (tests/octoprint/test_plugin.py says what each test checks): topics from
# plugins.mqtt.publish.*, bytes payloads, raw_data, presence, printer
# control, one warning per refusal cause, and a stalled daemon (SIGSTOP)
# never blocking OctoPrint nor getting a message twice.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

start_broker
# Every message as "topic hex-payload retained-flag" (payloads are binary).
spawn mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t 'printers/#' -t "$PROBE" \
	-F '%t %x %r' >>"$T/hex.txt" 2>>"$T/sub.log"
SUB_PID=$SPAWNED
probe_seen() {
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t "$PROBE" -m ready 2>>"$T/sub.log"
	grep -q "^$PROBE " "$T/hex.txt"
}
wait_for "the subscriber" 10 probe_seen

daemon_conf "$T/d.conf" true <<EOC
publish.baseTopic = printers/hass/
publish.lwHostTimeout = 3
http.token = t0ken-for-tests
EOC
start_daemon "$T/d.conf" "$T/daemon.log"
wait_for "the daemon to connect" 10 log_has "connected to broker"

URL=http://127.0.0.1:$HTTP_PORT TOKEN=t0ken-for-tests DAEMON_PID=$DAEMON_PID \
HEX_FILE=$T/hex.txt BROKER_PORT=$BROKER_PORT \
PYTHONPATH="$TESTS_SRCDIR/octoprint/stub:$TESTS_SRCDIR/octoprint:$TESTS_SRCDIR/../contrib/octoprint" \
PYTHONDONTWRITEBYTECODE=1 no_proxy='*' NO_PROXY='*' http_proxy='' HTTP_PROXY='' \
	timeout 180 /usr/bin/python3 "$TESTS_SRCDIR/octoprint/test_plugin.py" "$@" >"$T/py.log" 2>&1
rc=$?
# The daemon must not stay stopped whatever happened in there.
kill -CONT "$DAEMON_PID" 2>/dev/null
cat "$T/py.log"
[ "$rc" -eq 0 ] || fail "test_plugin.py exited with $rc"
stop_daemon
echo "PASS: octoprint plugin"
