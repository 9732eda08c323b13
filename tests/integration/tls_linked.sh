#!/bin/sh
# tls_linked.sh: mbedtls is linked into the daemon like any other library
# (DESIGN §8): the daemon needs it at load time, a plain daemon works as
# before, and a TLS configuration passes -t without any module or
# environment variable.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"
# shellcheck source=tests/integration/tls_lib.sh
. "$TESTS_SRCDIR/integration/tls_lib.sh"

tls_skip_unless_built

# 1. Linked, not loaded: the dynamic linker names libmbedtls.
ldd "$OCTOMQTTD" >"$T/ldd" 2>&1 || fail "ldd $OCTOMQTTD: $(cat "$T/ldd")"
grep -q "libmbedtls" "$T/ldd" || fail "octomqttd is not linked with libmbedtls: $(cat "$T/ldd")"

# 2. A plain daemon connects and answers.
start_broker
daemon_conf "$T/plain.conf" false </dev/null
start_daemon "$T/plain.conf" "$T/plain.log"
wait_for "connected" 10 log_has "connected to broker"
stop_daemon

# 3. A TLS configuration passes -t.
printf 'broker.url = mqtts://localhost\nbroker.tls_verify = false\n' | daemon_conf "$T/tls.conf" false
"$OCTOMQTTD" -t -c "$T/tls.conf" >"$T/t.out" 2>&1 || fail "-t with TLS: $(cat "$T/t.out")"
exit 0
