#!/bin/sh
# octoprint.sh: the OctoPrint plugin of contrib/octoprint under a stub
# OctoPrint (tests/octoprint), against a real octomqttd and mosquitto:
# the HTTP it sends (to a fake daemon), events, progress, temperatures and
# the helpers end to end, a daemon without broker refusing, and no daemon
# at all never blocking OctoPrint. Arguments name the tests of
# test_shim.py to run (octoprint_seed.sh runs test_seed_example).
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

start_broker
start_sub 'octoprint/#' "$T/sub.txt"

daemon_conf "$T/live.conf" true </dev/null
LIVE_PORT=$HTTP_PORT
start_daemon "$T/live.conf" "$T/daemon.log"
wait_for "the daemon to connect" 10 log_has "connected to broker"

# A daemon whose broker is a port nothing listens on.
LIVE_BROKER=$BROKER_PORT
BROKER_PORT=$("$FREEPORT") || fail "freeport failed"
daemon_conf "$T/dead.conf" true </dev/null
DEAD_PORT=$HTTP_PORT
start_daemon "$T/dead.conf" "$T/daemon-dead.log"
BROKER_PORT=$LIVE_BROKER
CLOSED_PORT=$("$FREEPORT") || fail "freeport failed"

# The tests talk to 127.0.0.1 only; no proxy from the environment.
LIVE_URL=http://127.0.0.1:$LIVE_PORT DEAD_URL=http://127.0.0.1:$DEAD_PORT \
CLOSED_URL=http://127.0.0.1:$CLOSED_PORT SUB_FILE=$T/sub.txt BROKER_PORT=$BROKER_PORT \
PYTHONPATH="$TESTS_SRCDIR/octoprint/stub:$TESTS_SRCDIR/octoprint:$TESTS_SRCDIR/../contrib/octoprint" \
PYTHONDONTWRITEBYTECODE=1 no_proxy='*' NO_PROXY='*' http_proxy='' HTTP_PROXY='' \
	timeout 120 /usr/bin/python3 "$TESTS_SRCDIR/octoprint/test_shim.py" "$@" >"$T/py.log" 2>&1
rc=$?
cat "$T/py.log"
[ "$rc" -eq 0 ] || fail "test_shim.py exited with $rc"
echo "PASS: octoprint shim"
