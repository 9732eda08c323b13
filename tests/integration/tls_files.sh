#!/bin/sh
# tls_files.sh: `octomqttd -t` reads and checks the TLS files and names
# the key whose file is wrong ("FILE:LINE: key: path: why", exit 1); the
# same file at start-up stops the daemon with status 78 (EX_CONFIG).
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"
# shellcheck source=tests/integration/tls_lib.sh
. "$TESTS_SRCDIR/integration/tls_lib.sh"

tls_skip_unless_built
make_certs
printf 'not a certificate\n' >"$PKI/junk.pem"
BROKER_PORT=1 # never connected to

# check_t WANT-REGEX CONF-LINES...: -t fails with one line matching WANT.
check_t() {
	_want=$1
	shift
	printf '%s\n' "$@" | daemon_conf "$T/t.conf" false
	if "$OCTOMQTTD" -t -c "$T/t.conf" >"$T/t.out" 2>"$T/t.err"; then
		fail "-t accepted: $* ($(cat "$T/t.out"))"
	fi
	[ "$(wc -l <"$T/t.err")" -eq 1 ] || fail "-t: expected one line: $(cat "$T/t.err")"
	grep -q -E -- "$_want" "$T/t.err" || fail "-t: expected /$_want/, got: $(cat "$T/t.err")"
}

U="broker.url = mqtts://localhost"
C="$T/t.conf"
check_t "^$C:[0-9]+: broker.tls_ca_certs: $PKI/missing.pem: No such file or directory$" \
	"$U" "broker.tls_ca_certs = $PKI/missing.pem"
check_t "^$C:[0-9]+: broker.tls_ca_certs: $PKI/junk.pem: " "$U" "broker.tls_ca_certs = $PKI/junk.pem"
check_t "^$C:[0-9]+: broker.tls_certfile: $PKI/junk.pem: not a usable PEM certificate" \
	"$U" "broker.tls_ca_certs = $PKI/ca.crt" \
	"broker.tls_certfile = $PKI/junk.pem" "broker.tls_keyfile = $PKI/cli.key"
check_t "^$C:[0-9]+: broker.tls_keyfile: $PKI/nokey.pem: No such file or directory$" \
	"$U" "broker.tls_ca_certs = $PKI/ca.crt" \
	"broker.tls_certfile = $PKI/cli.crt" "broker.tls_keyfile = $PKI/nokey.pem"
check_t "^$C:[0-9]+: broker.tls_keyfile: $PKI/srv.key: this key does not belong to the certificate$" \
	"$U" "broker.tls_ca_certs = $PKI/ca.crt" \
	"broker.tls_certfile = $PKI/cli.crt" "broker.tls_keyfile = $PKI/srv.key"
check_t "^$C:[0-9]+: broker.tls_keyfile: $PKI/cli.crt: not a usable private key" \
	"$U" "broker.tls_ca_certs = $PKI/ca.crt" \
	"broker.tls_certfile = $PKI/cli.crt" "broker.tls_keyfile = $PKI/cli.crt"
check_t "^$C:[0-9]+: webhook.tls_ca_certs: $PKI/junk.pem: " \
	"webhook.tls_ca_certs = $PKI/junk.pem"
check_t "^$C:[0-9]+: broker.tls_certfile needs broker.tls_keyfile too$" \
	"$U" "broker.tls_certfile = $PKI/cli.crt"

# Good files pass.
printf '%s\n' "$U" "broker.tls_ca_certs = $PKI/ca.crt" "broker.tls_certfile = $PKI/cli.crt" \
	"broker.tls_keyfile = $PKI/cli.key" "webhook.tls_ca_certs = $PKI/ca.crt" |
	daemon_conf "$T/ok.conf" false
"$OCTOMQTTD" -t -c "$T/ok.conf" >"$T/t.out" 2>&1 || fail "-t refused good files: $(cat "$T/t.out")"

# At start-up the same mistake is a config error: status 78.
printf '%s\n' "$U" "broker.tls_ca_certs = $PKI/missing.pem" | daemon_conf "$T/bad.conf" false
"$OCTOMQTTD" -c "$T/bad.conf" >"$T/bad.out" 2>&1
rc=$?
[ "$rc" -eq 78 ] || fail "start-up with a missing CA file: status $rc, expected 78"
grep -q "broker.tls_ca_certs: $PKI/missing.pem: No such file or directory" "$T/bad.out" ||
	fail "start-up message: $(cat "$T/bad.out")"
exit 0
