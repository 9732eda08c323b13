#!/bin/sh
# publish.sh: POST /publish end to end against a real mosquitto. What the
# subscriber sees is checked byte for byte (payloads in hex), with the
# retained flag and the QoS; then the answers while the broker is down:
# 503 not_connected without allow_queueing, and a queued message that
# reaches the broker once it is back.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

# hex STRING: the bytes of STRING as lower-case hex, as mosquitto_sub %x.
hex() {
	printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'
}

# got TOPIC RETAINED QOS HEX: the subscriber printed that message.
got() {
	messages "$T/sub.out" | grep -q -F -x "$1 $2 $3 $4"
}

# status_has TEXT: GET /status holds TEXT.
status_has() {
	hcurl "http://127.0.0.1:$HTTP_PORT/status" | grep -q -F -- "$1"
}

# publish BODY: POST /publish BODY, expecting 200 {"accepted":true}.
publish() {
	post /publish "$1"
	expect_answer 200 '{"accepted":true}'
}

start_broker
PORT=$BROKER_PORT
daemon_conf "$T/d.conf" false </dev/null
start_daemon "$T/d.conf"
wait_for "the daemon to connect" 10 log_has "connected to broker"
start_sub 'pub/#' "$T/sub.out" -q 2 -F '%t %r %q %x'

# A string payload is sent as its UTF-8 text, escapes decoded.
publish '{"topic": "pub/str", "payload": "h\u00e9 \"x\"\n"}'
wait_for "the string payload" 5 got pub/str 0 0 68c3a9202278220a
# Any other JSON value is sent as its JSON text, as written.
publish '{"topic": "pub/json", "payload": {"a": [1, 2.50]}}'
wait_for "the JSON payload" 5 got pub/json 0 0 "$(hex '{"a": [1, 2.50]}')"
publish '{"topic": "pub/num", "payload": 42}'
wait_for "the number payload" 5 got pub/num 0 0 "$(hex 42)"
# Bytes that are not text: NUL, 0xff, newline.
publish '{"topic": "pub/bytes", "payload_base64": "AP8K"}'
wait_for "the base64 payload" 5 got pub/bytes 0 0 00ff0a
# No payload: an empty message.
publish '{"topic": "pub/empty"}'
wait_for "the empty payload" 5 got pub/empty 0 0 ""
# QoS 1 and 2 reach the subscriber (subscribed with QoS 2) as such.
publish '{"topic": "pub/q1", "payload": "one", "qos": 1}'
wait_for "the QoS 1 message" 5 got pub/q1 0 1 "$(hex one)"
publish '{"topic": "pub/q2", "payload": "two", "qos": 2}'
wait_for "the QoS 2 message" 5 got pub/q2 0 2 "$(hex two)"
wait_for "no message in flight" 5 status_has '"inflight":0,'

# A retained message is kept by the broker for later subscribers.
publish '{"topic": "pub/ret", "payload": "kept", "retained": true, "qos": 1}'
mosquitto_sub -h 127.0.0.1 -p "$PORT" -t pub/ret -C 1 -W 10 -F '%r %x' >"$T/late.out" 2>&1 ||
	fail "no retained message for a late subscriber: $(cat "$T/late.out")"
[ "$(cat "$T/late.out")" = "1 $(hex kept)" ] || fail "late subscriber got $(cat "$T/late.out")"

# Refused before anything is published: bad topics, bad members.
post /publish '{"topic": "pub/+/x", "payload": "no"}'
expect_answer 400 "{\"error\":\"bad_request\",\"message\":\"topic contains a wildcard ('+' or '#')\"}"
post /publish '{"topic": ""}'
expect_answer 400 '{"error":"bad_request","message":"topic is empty"}'
post /publish '{"payload": "x"}'
expect_answer 400 '{"error":"bad_request","message":"topic is required"}'
post /publish '{"topic": "pub/x", "qos": 3}'
expect_answer 400 '{"error":"bad_request","message":"qos must be 0, 1 or 2"}'
post /publish '{"topic": "pub/x", "retain": true}'
expect_answer 400 '{"error":"bad_request","message":"unknown member \"retain\""}'
CODE=$(hcurl -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/publish")
expect_answer 405 '{"error":"method_not_allowed","message":"only POST is allowed on /publish"}'

# Broker down: refused without allow_queueing, queued with it.
stop_sub
stop_broker
wait_for "the daemon to notice the broker is gone" 10 log_has "retrying in"
post /publish '{"topic": "pub/down", "payload": "lost"}'
expect_refused not_connected
publish '{"topic": "pub/queued", "payload": "waited", "retained": true, "allow_queueing": true}'
status_has '"queue":{"messages":1,' || fail "not queued"
status_has '"publishes_refused":1,' || fail "the refusal was not counted"

start_broker "$PORT"
# Retained, so it reaches a subscriber whenever it subscribes.
mosquitto_sub -h 127.0.0.1 -p "$PORT" -t pub/queued -C 1 -W 15 -F '%t %x' >"$T/q.out" 2>&1 ||
	fail "the queued message never reached the broker: $(cat "$T/q.out")"
[ "$(cat "$T/q.out")" = "pub/queued $(hex waited)" ] || fail "got $(cat "$T/q.out")"
mosquitto_sub -h 127.0.0.1 -p "$PORT" -t pub/down -C 1 -W 1 -F '%t' >"$T/d.out" 2>&1 &&
	fail "a refused message was published"
stop_daemon
echo "ok"
