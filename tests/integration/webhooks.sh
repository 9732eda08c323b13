#!/bin/sh
# webhooks.sh: subscriptions and webhook deliveries end to end, with a real
# mosquitto and a real HTTP receiver (tests/tools/receiver.py): '+' and
# '#', $SYS not matched by '#', overlapping registrations delivered once
# each, the order of 1,000 messages, retries after 5xx, none after 404,
# the receiver down then up, unsubscribe by URL and by URL + topic, a
# daemon restart keeping the subscriptions, a broker restart
# re-subscribing; webhook.allow: a localhost URL accepted and delivered,
# after a restart with a list that no longer holds the receiver nothing
# sent to it (refused, logged, counted), registrations outside it 403.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

# shellcheck source=tests/integration/hooks_lib.sh
. "$TESTS_SRCDIR/integration/hooks_lib.sh"

# subscribe TOPIC PATH [ARGS_AND_KWARGS_JSON_MEMBERS]: register; expect 201.
subscribe() {
	post /subscriptions "{\"topic\":\"$1\",\"url\":\"http://127.0.0.1:$RECV_PORT$2\"${3:+,$3}}"
	[ "$CODE" = 201 ] || fail "subscribing $1 -> $2: $CODE $(cat "$T/body")"
}

start_broker
RECV_PORT=$("$FREEPORT") || fail "freeport failed"
start_receiver
daemon_conf "$T/d.conf" false <<EOF
webhook.retries = 3
webhook.timeout = 2
EOF
start_daemon "$T/d.conf"
wait_for "the daemon to connect" 10 log_has "connected to broker"

# Overlapping registrations: each gets the message once.
subscribe 't/+' /a
subscribe 't/#' /b
subscribe 't/x' /c '"args":[1,"two"],"kwargs":{"k":"v"}'
subscribe '#' /d
subscribe '$SYS/broker/version' /sys
wait_for "the broker subscriptions" 10 log_has "subscribed to '#' with QoS 1"
pub t/x one
for p in /a /b /c /d; do
	wait_for "the delivery to $p" 10 got "$p" 1
done
check '
c = at("/c")[0]
assert c["body"] == {"topic": "t/x", "payload": "one", "retained": False, "qos": 1,
                     "args": [1, "two"], "kwargs": {"k": "v"}}, c
assert len(c["sub"]) == 16, c
'
[ "$(counter messages_received)" -ge 1 ] || fail "no message counted"
# $SYS: the retained version reaches its own subscription, never '#'.
wait_for "the \$SYS delivery" 10 got /sys 1
check '
assert at("/sys")[0]["body"]["topic"] == "$SYS/broker/version", at("/sys")
assert all(not r["body"]["topic"].startswith("$") for r in at("/d")), at("/d")
'

# 1,000 messages in order to one subscription.
# '#' covers it at the broker: registered, it takes effect at once.
subscribe 'order/#' /o
seq 0 999 | mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t order/n -l ||
	fail "mosquitto_pub -l failed"
wait_for "1000 ordered deliveries" 30 got /o 1000
check '
got = [int(r["body"]["payload"]) for r in at("/o")]
assert got == list(range(1000)), got[:20]
'

# 5xx is retried; 404 is not.
subscribe 'retry/x' /flaky/2/r
subscribe 'nr/x' /status/404/n
pub retry/x again
wait_for "the third attempt" 15 got /flaky/2/r 3
check 'assert [r["status"] for r in at("/flaky/2/r")] == [500, 500, 200], at("/flaky/2/r")'
pub nr/x never
wait_for "the 404 to be final" 10 counter_ge webhook_failed 1

# The receiver down, then up again: the delivery waits and arrives.
subscribe 'down/x' /down
stop_receiver
retried=$(counter webhook_retried)
pub down/x later
wait_for "a retry while the receiver is down" 10 counter_ge webhook_retried $((retried + 1))
start_receiver
wait_for "the delivery after the receiver came back" 15 got /down 1

# Unsubscribe by URL + topic, and by URL.
post_delete() {
	CODE=$(hcurl -o "$T/body" -w '%{http_code}' -X DELETE "http://127.0.0.1:$HTTP_PORT$1") ||
		fail "DELETE $1 failed"
}
post_delete "/subscriptions?url=http%3A%2F%2F127.0.0.1%3A$RECV_PORT%2Fa&topic=t%2F%2B"
expect_answer 200 '{"removed":1}'
post_delete "/subscriptions?url=http://127.0.0.1:$RECV_PORT/b"
expect_answer 200 '{"removed":1}'
deliveries=$(counter deliveries)
pub t/x two
wait_for "the deliveries of 'two'" 10 counter_ge deliveries $((deliveries + 2))
wait_for "'two' at /c and /d" 10 sh -c "[ \$(grep -c '\"payload\": \"two\"' '$RECV_LOG') -ge 2 ]"
[ "$(counter deliveries)" -eq $((deliveries + 2)) ] || fail "'two' delivered more than twice"
check '
assert [r for r in at("/a") + at("/b") if r["body"]["payload"] == "two"] == []
'

# A daemon restart keeps the subscriptions (state.file).
hcurl "http://127.0.0.1:$HTTP_PORT/subscriptions" >"$T/before.json"
stop_daemon
start_daemon "$T/d.conf"
hcurl "http://127.0.0.1:$HTTP_PORT/subscriptions" >"$T/after.json"
cmp -s "$T/before.json" "$T/after.json" ||
	fail "subscriptions changed over a restart: $(cat "$T/before.json") / $(cat "$T/after.json")"
wait_for "the daemon to subscribe again" 10 log_has "subscribed to '#' with" 2
pub t/x three
wait_for "'three' after the daemon restart" 10 sh -c "grep -q '\"payload\": \"three\"' '$RECV_LOG'"

# A broker restart (no session kept): the daemon subscribes again.
PORT=$BROKER_PORT
stop_broker
start_broker "$PORT"
wait_for "the reconnect" 15 log_has "connected to broker 127\.0\.0\.1:$PORT" 3
wait_for "the subscriptions after the broker restart" 15 log_has "subscribed to '#' with" 3
pub t/x four
wait_for "'four' after the broker restart" 10 sh -c "grep -q '\"payload\": \"four\"' '$RECV_LOG'"

# Overlapping registrations: 'one' reached each of them exactly once.
check '
for p in ("/a", "/b", "/c", "/d"):
    n = [r for r in at(p) if r["body"]["payload"] == "one"]
    assert len(n) == 1, (p, n)
'

# Never retried: the 404 got exactly one request.
[ "$(received /status/404/n)" -eq 1 ] || fail "the 404 was retried: $(received /status/404/n)"

# webhook.allow. localhost is a name like any other (from /etc/hosts):
# accepted inside the default list (127.0.0.0/8, ::1) and delivered.
printf '%s' "{\"topic\":\"lh/x\",\"url\":\"http://localhost:$RECV_PORT/lh\"}" >"$T/request"
CODE=$(hcurl -D "$T/head" -o "$T/body" -w '%{http_code}' -X POST --data-binary "@$T/request" \
	"http://127.0.0.1:$HTTP_PORT/subscriptions") || fail "curl POST /subscriptions failed"
[ "$CODE" = 201 ] || fail "subscribing to a localhost URL: $CODE $(cat "$T/body")"
# Its status line has the reason phrase (it once said "201 Unknown").
head -n 1 "$T/head" | grep -q '^HTTP/1\.1 201 Created.$' ||
	fail "POST /subscriptions: $(head -n 1 "$T/head")"
pub lh/x five
wait_for "the delivery to localhost" 10 got /lh 1
hcurl "http://127.0.0.1:$HTTP_PORT/subscriptions" >"$T/before10.json"

# Restarted with a list that holds none of them (10.0.0.0/8 is only ever
# a list entry here, never connected to): the subscriptions come back
# from state.file, but each is refused at start-up, logged with the
# address outside, and its messages are counted as undeliverable.
stop_daemon
daemon_conf "$T/d10.conf" false <<EOF
webhook.retries = 3
webhook.timeout = 2
webhook.allow = 10.0.0.0/8
EOF
start_daemon "$T/d10.conf"
hcurl "http://127.0.0.1:$HTTP_PORT/subscriptions" >"$T/after10.json"
cmp -s "$T/before10.json" "$T/after10.json" ||
	fail "subscriptions changed over a restart: $(cat "$T/before10.json") / $(cat "$T/after10.json")"
log_has "\(http://localhost:$RECV_PORT/lh\): localhost resolves to [0-9a-f:.]+, outside webhook\.allow" ||
	fail "no refusal logged for the localhost subscription"
log_has "\(http://127\.0\.0\.1:$RECV_PORT/d\): the address 127\.0\.0\.1 is outside webhook\.allow" ||
	fail "no refusal logged for /d"
wait_for "the daemon to subscribe (allow 10.0.0.0/8)" 10 log_has "subscribed to '#' with" 4
before=$(wc -l <"$RECV_LOG")
# lh/x matches lh/x (/lh) and '#' (/d): both refused, nothing sent.
# (Retained messages, the daemon's own status among them, are refused
# too, so undeliverable counts more than these two.)
pub lh/x six
wait_for "the two refused deliveries of lh/x" 10 log_has "message on 'lh/x' not deliverable" 2
counter_ge undeliverable 2 || fail "undeliverable: $(counter undeliverable), want at least 2"
[ "$(counter deliveries)" -eq 0 ] || fail "a delivery was queued outside webhook.allow"
[ "$(counter webhook_delivered)" -eq 0 ] || fail "a webhook was delivered outside webhook.allow"
[ "$(wc -l <"$RECV_LOG")" -eq "$before" ] || fail "the receiver got a request outside webhook.allow"
alive "$DAEMON_PID" || fail "the daemon died"

# Registrations outside the list: 403 url_not_allowed naming the address;
# a name that does not resolve is 400 (an empty label: refused without
# asking DNS). Nothing is added.
post /subscriptions "{\"topic\":\"n/x\",\"url\":\"http://127.0.0.1:$RECV_PORT/n\"}"
expect_answer 403 '{"error":"url_not_allowed","message":"the address 127.0.0.1 is outside webhook.allow"}'
post /subscriptions "{\"topic\":\"n/x\",\"url\":\"http://localhost:$RECV_PORT/n\"}"
[ "$CODE" = 403 ] || fail "localhost outside webhook.allow: $CODE $(cat "$T/body")"
grep -q -E '^\{"error":"url_not_allowed","message":"localhost resolves to [0-9a-f:.]+, outside webhook\.allow"\}$' \
	"$T/body" || fail "localhost outside webhook.allow: $(cat "$T/body")"
post /subscriptions '{"topic":"n/x","url":"http://no..such.invalid/n"}'
[ "$CODE" = 400 ] || fail "a name that does not resolve: $CODE $(cat "$T/body")"
grep -q "cannot resolve 'no\.\.such\.invalid'" "$T/body" || fail "unresolvable name: $(cat "$T/body")"
hcurl "http://127.0.0.1:$HTTP_PORT/subscriptions" >"$T/after403.json"
cmp -s "$T/after10.json" "$T/after403.json" || fail "a refused registration was added"
[ "$(counter webhook_failed)" -eq 0 ] || fail "webhook_failed: $(counter webhook_failed)"
stop_daemon
echo "ok: $(wc -l <"$RECV_LOG") requests received"
