#!/bin/sh
# tls_module.sh: mbedtls lives in the TLS module (src/tls_mbedtls.h),
# loaded only when the configuration uses TLS. A plain daemon maps neither
# the module nor mbedtls; a module that is missing, or is not one, is a
# configuration error naming the file (-t: exit 1; start-up: 78), and so
# is a module of another interface version.
# tls_broker.sh checks that a TLS daemon has the module mapped.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"
# shellcheck source=tests/integration/tls_lib.sh
. "$TESTS_SRCDIR/integration/tls_lib.sh"

tls_skip_unless_built
[ -f "$OCTOMQTTD_TLS_MODULE" ] || fail "OCTOMQTTD_TLS_MODULE=$OCTOMQTTD_TLS_MODULE: no such file"

# 1. A plain daemon, connected: no TLS code in its address space.
start_broker
daemon_conf "$T/plain.conf" false </dev/null
start_daemon "$T/plain.conf" "$T/plain.log"
wait_for "connected" 10 log_has "connected to broker"
cp "/proc/$DAEMON_PID/maps" "$T/plain.maps" || fail "cannot read the maps of $DAEMON_PID"
grep -q "octomqttd" "$T/plain.maps" || fail "the maps were not read: $(head -3 "$T/plain.maps")"
if grep -E "libmbed|/tls\.so$" "$T/plain.maps" >"$T/mapped"; then
	fail "a daemon without TLS mapped: $(cat "$T/mapped")"
fi
stop_daemon

# 2. The module cannot be loaded: -t names it and says why.
printf 'broker.url = mqtts://localhost\nbroker.tls_verify = false\n' | daemon_conf "$T/tls.conf" false
# check_module PATH WANT-REGEX: -t and start-up with OCTOMQTTD_TLS_MODULE=PATH.
check_module() {
	if OCTOMQTTD_TLS_MODULE=$1 "$OCTOMQTTD" -t -c "$T/tls.conf" >"$T/t.out" 2>"$T/t.err"; then
		fail "-t accepted the TLS module $1"
	fi
	[ "$(wc -l <"$T/t.err")" -eq 1 ] || fail "-t, module $1: expected one line: $(cat "$T/t.err")"
	grep -q -E -- "^$T/tls.conf: broker.tls: $2" "$T/t.err" ||
		fail "-t, module $1: expected /$2/, got: $(cat "$T/t.err")"
	OCTOMQTTD_TLS_MODULE=$1 "$OCTOMQTTD" -c "$T/tls.conf" >"$T/s.out" 2>&1
	rc=$?
	[ "$rc" -eq 78 ] || fail "start-up with the TLS module $1: status $rc, expected 78"
	grep -q -E -- "$2" "$T/s.out" || fail "start-up, module $1: $(cat "$T/s.out")"
}
check_module "$T/missing.so" \
	"cannot load the TLS module: $T/missing\.so: cannot open shared object file: No such file or directory$"
# A shared object that is not a module: libc itself.
LIBC=$(ldd "$OCTOMQTTD" | awk '$1 ~ /^libc\.so/ { print $3 }')
[ -f "$LIBC" ] || fail "libc of $OCTOMQTTD not found: $(ldd "$OCTOMQTTD")"
check_module "$LIBC" "$LIBC: not an octomqttd TLS module \(no tls_mbedtls_ops\)$"
# A module of another version (tests/tools/tls_module_old.c).
check_module "$TLS_MODULE_OLD" \
	"$TLS_MODULE_OLD: TLS module of another octomqttd version \(interface 2, this daemon needs 1\); reinstall octomqttd$"

# 3. The right module passes -t.
"$OCTOMQTTD" -t -c "$T/tls.conf" >"$T/t.out" 2>&1 || fail "-t with the module: $(cat "$T/t.out")"
exit 0
