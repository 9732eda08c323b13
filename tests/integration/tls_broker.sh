#!/bin/sh
# tls_broker.sh: the broker link over TLS (DESIGN §4 broker.tls*, issue 6)
# against a real mosquitto with three TLS listeners (a valid certificate
# for localhost; the same with require_certificate; an expired one) and a
# peer that answers the handshake with garbage. Certificates come from
# the openssl tool (tls_lib.sh). Every failure must be logged with its
# reason and retried with backoff while the daemon stays up.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"
# shellcheck source=tests/integration/tls_lib.sh
. "$TESTS_SRCDIR/integration/tls_lib.sh"

tls_skip_unless_built
make_certs

P_TLS=$("$FREEPORT") || fail "freeport failed"
P_CERT=$("$FREEPORT") || fail "freeport failed"
P_OLD=$("$FREEPORT") || fail "freeport failed"
P_JUNK=$("$FREEPORT") || fail "freeport failed"
BROKER_EXTRA=$(
	cat <<CONF
persistence false
listener $P_TLS 127.0.0.1
cafile $PKI/ca.crt
certfile $PKI/srv.crt
keyfile $PKI/srv.key
listener $P_CERT 127.0.0.1
cafile $PKI/ca.crt
certfile $PKI/srv.crt
keyfile $PKI/srv.key
require_certificate true
listener $P_OLD 127.0.0.1
cafile $PKI/ca.crt
certfile $PKI/old.crt
keyfile $PKI/srv.key
CONF
)
start_broker
for p in $P_TLS $P_CERT $P_OLD; do
	wait_for "mosquitto listening on $p" 10 "$FREEPORT" -w "$p" 0
done
start_sub 'octoprint/#' "$T/sub.out"

N=0
# tls_daemon CONF-LINES...: a daemon with these broker lines (sets N,
# DAEMON_LOG), started; its /health is not looked at yet.
tls_daemon() {
	N=$((N + 1))
	printf '%s\n' "$@" >"$T/d$N.lines"
	daemon_conf "$T/d$N.conf" false <"$T/d$N.lines"
	start_daemon "$T/d$N.conf" "$T/daemon$N.log"
}

health_is() {
	[ "$(hcurl -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health")" = "$1" ]
}

# expect_connects: TLS comes up, CONNACK follows, an event gets through.
expect_connects() {
	wait_for "TLS established ($1)" 10 log_has "broker .*: TLS established \(TLSv1.2, "
	wait_for "connected ($1)" 10 health_is 200
	post "/events/Tls$N" '{"case":"'"$1"'"}'
	[ "$CODE" = 202 ] || fail "$1: event answered $CODE"
	wait_for "the event of $1 at the subscriber" 10 grep -q "^octoprint/event/Tls$N " "$T/sub.out"
	stop_daemon
}

# expect_fails WHY-REGEX: two handshake failures naming the reason, with
# backoff between them, and the daemon still up and answering.
expect_fails() {
	wait_for "two failed handshakes ($1)" 15 \
		log_has "broker .*: TLS handshake failed: .*$1.*; retrying in [0-9.]+ s" 2
	alive "$DAEMON_PID" || fail "octomqttd died after failed handshakes ($1)"
	health_is 503 || fail "/health is not 503 while the TLS link fails ($1)"
	log_has "TLS established" && fail "TLS established although it should fail ($1)"
	stop_daemon
}

# 1. A good CA and the name the certificate carries.
tls_daemon "broker.url = mqtts://localhost" "broker.port = $P_TLS" "broker.tls_ca_certs = $PKI/ca.crt"
expect_connects "verified"
# broker.tls = true with a host and a port works the same.
tls_daemon "broker.url = localhost" "broker.port = $P_TLS" "broker.tls = true" \
	"broker.tls_ca_certs = $PKI/ca.crt"
expect_connects "broker.tls"

# 2. The wrong CA: refused, retried.
tls_daemon "broker.url = mqtts://localhost" "broker.port = $P_TLS" "broker.tls_ca_certs = $PKI/other-ca.crt"
expect_fails "not correctly signed by the trusted CA"
# ... unless the chain is not checked at all.
tls_daemon "broker.url = mqtts://localhost" "broker.port = $P_TLS" "broker.tls_ca_certs = $PKI/other-ca.crt" \
	"broker.tls_verify = false"
log_has "broker.tls_verify = false: the broker's certificate is not checked" ||
	fail "no warning for tls_verify = false"
expect_connects "tls_verify = false"

# 3. Name mismatch: 127.0.0.1 is not the certificate's name ...
tls_daemon "broker.url = mqtts://127.0.0.1" "broker.port = $P_TLS" "broker.tls_ca_certs = $PKI/ca.crt"
expect_fails "Common Name \(CN\) does not match"
# ... accepted with tls_insecure, which skips only that check:
tls_daemon "broker.url = mqtts://127.0.0.1" "broker.port = $P_TLS" "broker.tls_ca_certs = $PKI/ca.crt" \
	"broker.tls_insecure = true"
expect_connects "tls_insecure"
tls_daemon "broker.url = mqtts://127.0.0.1" "broker.port = $P_TLS" "broker.tls_ca_certs = $PKI/other-ca.crt" \
	"broker.tls_insecure = true"
expect_fails "not correctly signed by the trusted CA"

# 4. An expired server certificate.
tls_daemon "broker.url = mqtts://localhost" "broker.port = $P_OLD" "broker.tls_ca_certs = $PKI/ca.crt"
expect_fails "validity has expired"

# 5. require_certificate: without one the broker refuses us; with one, in.
tls_daemon "broker.url = mqtts://localhost" "broker.port = $P_CERT" "broker.tls_ca_certs = $PKI/ca.crt"
# OpenSSL sends handshake_failure and closes; which of the two we see
# first depends on timing.
expect_fails "(alert handshake_failure \(40\)|closed the connection during the handshake)"
tls_daemon "broker.url = mqtts://localhost" "broker.port = $P_CERT" "broker.tls_ca_certs = $PKI/ca.crt" \
	"broker.tls_certfile = $PKI/cli.crt" "broker.tls_keyfile = $PKI/cli.key"
expect_connects "client certificate"

# 6. A peer that sends garbage instead of a ServerHello, then closes.
spawn /usr/bin/python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
while True:
    c, _ = s.accept()
    try:
        c.recv(4096)
        c.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n" + bytes(range(256)) * 4)
    except OSError:
        pass
    c.close()
' "$P_JUNK"
JUNK_PID=$SPAWNED
wait_for "the garbage peer listening" 10 "$FREEPORT" -w "$P_JUNK" 0
tls_daemon "broker.url = mqtts://localhost" "broker.port = $P_JUNK" "broker.tls_ca_certs = $PKI/ca.crt"
expect_fails "is this a TLS port\?"
kill "$JUNK_PID"

# 7. The TLS link carries QoS 1 both ways after all this (a subscriber at
# the plain listener sees a QoS 1 publish made through the daemon).
tls_daemon "broker.url = mqtts://localhost" "broker.port = $P_TLS" "broker.tls_ca_certs = $PKI/ca.crt"
wait_for "connected (QoS 1)" 10 health_is 200
post /publish '{"topic":"octoprint/q1","payload":"over tls","qos":1}'
expect_answer 200 '{"accepted":true}'
wait_for "the QoS 1 message at the subscriber" 10 grep -q -x "octoprint/q1 over tls" "$T/sub.out"
stop_daemon
stop_sub
exit 0
