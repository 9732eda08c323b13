# fb_lib.sh: starting a scripted fake broker (tests/tools/fakebroker) for
# the integration tests that need one (fakebroker.sh, backoff.sh; POSIX
# sh; sourced after lib.sh).
# shellcheck shell=sh

SCEN=$TESTS_SRCDIR/fakebroker
[ -x "${FAKEBROKER:-}" ] || fail "FAKEBROKER is not set to tests/tools/fakebroker"

# fb_start NAME TAG [-D NAME=BYTES]...: play SCEN/NAME.fbs on a free port
# (another one if it was taken meanwhile); sets BROKER_PORT, FB_PID, FB_OUT.
fb_start() {
	_fb_name=$1
	FB_TAG=$2
	shift 2
	FB_OUT=$T/broker-$FB_TAG.out
	_fb_try=0
	while :; do
		_fb_try=$((_fb_try + 1))
		BROKER_PORT=$("$FREEPORT") || fail "freeport failed"
		: >"$FB_OUT"
		spawn "$FAKEBROKER" "$@" "$SCEN/$_fb_name.fbs" "$BROKER_PORT" >"$FB_OUT" 2>&1
		FB_PID=$SPAWNED
		_end=$(($(date +%s) + 11))
		while ! grep -q '^listening on ' "$FB_OUT"; do
			alive "$FB_PID" || break
			[ "$(date +%s)" -lt "$_end" ] || fail "$FB_TAG: fakebroker did not listen"
			sleep 0.05
		done
		alive "$FB_PID" && return 0
		wait "$FB_PID"
		_fb_rc=$?
		forget "$FB_PID"
		[ "$_fb_rc" -eq 3 ] && [ "$_fb_try" -lt 3 ] && continue
		fail "$FB_TAG: fakebroker exited with status $_fb_rc at start-up"
	done
}
