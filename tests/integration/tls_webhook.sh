#!/bin/sh
# tls_webhook.sh: https:// webhooks (DESIGN §4 webhook.tls_*, §6; issue
# 6). A real mosquitto, and tests/tools/receiver.py serving HTTPS with a
# certificate for localhost from the test CA (tls_lib.sh). Deliveries
# arrive, in order, over kept-alive TLS connections; a receiver whose
# certificate is not trusted, or does not carry the URL's name, gets
# nothing (the failure is logged with its reason and retried) unless
# webhook.tls_insecure skips the name check.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"
# shellcheck source=tests/integration/tls_lib.sh
. "$TESTS_SRCDIR/integration/tls_lib.sh"

tls_skip_unless_built
make_certs

# shellcheck source=tests/integration/hooks_lib.sh
. "$TESTS_SRCDIR/integration/hooks_lib.sh"

RECV_PORT=$("$FREEPORT") || fail "freeport failed"
start_receiver "$PKI/srv.crt" "$PKI/srv.key"
start_broker

# subscribe TOPIC URL: register; expect 201.
subscribe() {
	post /subscriptions "{\"topic\":\"$1\",\"url\":\"$2\"}"
	[ "$CODE" = 201 ] || fail "subscribing $1 -> $2: $CODE $(cat "$T/body")"
}

# subscribed FILTER: the broker granted the daemon's subscription.
subscribed() {
	log_has "subscribed to '$1' with QoS"
}

N=0
# hook_daemon CONF-LINES...: a daemon of its own (fresh state file).
hook_daemon() {
	N=$((N + 1))
	printf '%s\n' "state.file = $T/state$N.json" "webhook.retries = 100" "$@" >"$T/d$N.lines"
	daemon_conf "$T/d$N.conf" false <"$T/d$N.lines"
	start_daemon "$T/d$N.conf" "$T/daemon$N.log"
}

# 1. Trusted CA, the certificate's name: 200 messages in order, over
# connections that are kept alive (far fewer connects than messages).
hook_daemon "webhook.tls_ca_certs = $PKI/ca.crt"
subscribe "tls/ok" "https://localhost:$RECV_PORT/ok"
wait_for "the broker subscription" 10 subscribed tls/ok
i=0
while [ $i -lt 200 ]; do
	echo "m$i"
	i=$((i + 1))
done >"$T/msgs"
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t tls/ok -l <"$T/msgs" ||
	fail "mosquitto_pub -l failed"
wait_for "200 deliveries over https" 30 got /ok 200
/usr/bin/python3 -c '
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
got = [r["body"]["payload"] for r in reqs if r["path"] == "/ok"]
assert got == ["m%d" % i for i in range(200)], got[:5]
assert all(r["body"]["topic"] == "tls/ok" and r["sub"] for r in reqs if r["path"] == "/ok")
' "$RECV_LOG" || fail "https deliveries out of order or malformed"
conns=$(log_count "webhook .*: TLS established \\(TLSv1.2")
[ "$conns" -ge 1 ] && [ "$conns" -le 8 ] ||
	fail "$conns TLS connections for 200 deliveries: not kept alive"
stop_daemon

# 2. A CA that did not sign the receiver's certificate: nothing arrives,
# each attempt fails with the reason and is retried.
hook_daemon "webhook.tls_ca_certs = $PKI/other-ca.crt"
subscribe "tls/ca" "https://localhost:$RECV_PORT/ca"
wait_for "the broker subscription" 10 subscribed tls/ca
pub tls/ca one
wait_for "two refused attempts" 15 \
	log_has "webhook .*TLS: the server's certificate was not accepted: The certificate is not correctly signed by the trusted CA" 2
counter_ge webhook_retried 1 || fail "the failed https attempt was not retried"
[ "$(received /ca)" -eq 0 ] || fail "delivered to an untrusted receiver"
alive "$DAEMON_PID" || fail "octomqttd died"
stop_daemon

# 3. The URL names 127.0.0.1, the certificate only localhost: refused ...
hook_daemon "webhook.tls_ca_certs = $PKI/ca.crt"
subscribe "tls/name" "https://127.0.0.1:$RECV_PORT/name"
wait_for "the broker subscription" 10 subscribed tls/name
pub tls/name one
wait_for "a refused name" 15 log_has "webhook .*TLS: .*Common Name \(CN\) does not match"
[ "$(received /name)" -eq 0 ] || fail "delivered although the name does not match"
stop_daemon
# ... and delivered with webhook.tls_insecure (the chain is still checked).
hook_daemon "webhook.tls_ca_certs = $PKI/ca.crt" "webhook.tls_insecure = true"
subscribe "tls/insecure" "https://127.0.0.1:$RECV_PORT/insecure"
wait_for "the broker subscription" 10 subscribed tls/insecure
pub tls/insecure one
wait_for "delivered with tls_insecure" 15 got /insecure 1
stop_daemon

# 4. An http:// URL to the https port is a failed request, not a hang.
hook_daemon "webhook.tls_ca_certs = $PKI/ca.crt" "webhook.timeout = 2"
subscribe "tls/plain" "http://127.0.0.1:$RECV_PORT/plain"
wait_for "the broker subscription" 10 subscribed tls/plain
pub tls/plain one
wait_for "a failed plain request to the TLS port" 15 counter_ge webhook_retried 1
[ "$(received /plain)" -eq 0 ] || fail "a plain request was received by the https port"
stop_daemon
exit 0
