#!/bin/sh
# status.sh: GET /health, /status and /metrics against a real broker:
# health follows the connection, /status and /metrics report the same
# counters, and the HTTP responses are counted by status class; then
# http.token (401 with WWW-Authenticate without the right bearer token).
#
# Issue 13, point 6: /status counters pings_sent, pings_unanswered,
# poison_dropped and the top-level gauge acks_held (inbound QoS 1/2
# messages whose acknowledgement waits for webhook deliveries); /metrics
# octomqttd_pings_sent_total, octomqttd_pings_unanswered_total,
# octomqttd_poison_dropped_total (counters), octomqttd_acks_held (gauge).
# On the code before issue 13 this failed with:
#   FAIL: issue 13 figures in /status: counter pings_sent missing;
#   counter pings_unanswered missing; counter poison_dropped missing;
#   gauge acks_held missing
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 not found"

# get PATH: GET from the daemon; sets CODE, the body goes to $T/body.
get() {
	CODE=$(hcurl -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT$1") ||
		fail "curl GET $1 failed"
}

healthy() {
	get /health
	[ "$CODE" = 200 ]
}

start_broker
daemon_conf "$T/d.conf" false </dev/null
start_daemon "$T/d.conf"
wait_for "GET /health 200" 10 healthy
[ "$(cat "$T/body")" = '{"status":"ok"}' ] || fail "health body: $(cat "$T/body")"

post /events/A '{}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/A"}'
post /events/bad%20name '{}'
[ "$CODE" = 400 ] || fail "bad name answered $CODE"

get /status
[ "$CODE" = 200 ] || fail "GET /status answered $CODE"
/usr/bin/python3 - "$T/body" "$BROKER_PORT" "${PACKAGE_VERSION:?}" <<'PY' || fail "bad /status: $(cat "$T/body")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["version"] == sys.argv[3], s
assert s["connected"] is True, s
assert s["broker"] == "127.0.0.1:" + sys.argv[2], s
assert isinstance(s["uptime"], int) and s["uptime"] >= 0, s
assert s["queue"] == {"messages": 0, "bytes": 0}, s
assert s["inflight"] == 0 and s["subscriptions"] == 0, s
c = s["counters"]
assert c["events"] == 1 and c["published"] == 1 and c["connects"] == 1, c
# Answered before this one: 200 /health, 202, 400.
assert c["http_2xx"] >= 2 and c["http_4xx"] == 1 and c["http_5xx"] == 0, c
PY

get /metrics
[ "$CODE" = 200 ] || fail "GET /metrics answered $CODE"
grep -q -x 'octomqttd_events_total 1' "$T/body" || fail "no events counter in /metrics"
grep -q -x 'octomqttd_connected 1' "$T/body" || fail "no connected gauge in /metrics"
grep -q -x 'octomqttd_http_responses_total{class="4xx"} 1' "$T/body" ||
	fail "4xx responses not counted in /metrics"
# Every sample has HELP and TYPE lines for its metric.
/usr/bin/python3 - "$T/body" <<'PY' || fail "bad exposition format: $(cat "$T/body")"
import re, sys
help_, type_ = set(), set()
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# HELP "):
        help_.add(line.split(" ")[2])
    elif line.startswith("# TYPE "):
        name, kind = line.split(" ")[2:4]
        assert kind in ("counter", "gauge"), line
        type_.add(name)
    else:
        m = re.fullmatch(r'([a-z_]+)(\{class="[1-5]xx"\})? ([0-9]+)', line)
        assert m, line
        assert m.group(1) in help_ and m.group(1) in type_, line
PY

# Issue 13: keepalive pings, poison drops, acknowledgements held back.
get /status
/usr/bin/python3 - "$T/body" >"$T/why" <<'PY' || fail "issue 13 figures in /status: $(cat "$T/why")"
import json, sys
s = json.load(open(sys.argv[1]))
c = s["counters"]
bad = []
for k in ("pings_sent", "pings_unanswered", "poison_dropped"):
    if not isinstance(c.get(k), int):
        bad.append("counter %s missing" % k)
    elif k != "pings_sent" and c[k] != 0:
        bad.append("counter %s = %d, want 0" % (k, c[k]))
if not isinstance(s.get("acks_held"), int):
    bad.append("gauge acks_held missing")
elif s["acks_held"] != 0:
    bad.append("acks_held = %d, want 0" % s["acks_held"])
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
get /metrics
for m in pings_sent_total:counter pings_unanswered_total:counter poison_dropped_total:counter \
	acks_held:gauge; do
	grep -q -x "# TYPE octomqttd_${m%%:*} ${m#*:}" "$T/body" ||
		fail "/metrics: no ${m#*:} octomqttd_${m%%:*}"
	grep -q -E "^octomqttd_${m%%:*} [0-9]+\$" "$T/body" ||
		fail "/metrics: no sample of octomqttd_${m%%:*}"
done
grep -q -x 'octomqttd_acks_held 0' "$T/body" || fail "/metrics: acks_held is not 0 at rest"

stop_broker
wait_for "GET /health 503 with the broker gone" 10 sh -c \
	"[ \$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' http://127.0.0.1:$HTTP_PORT/health) = 503 ]"
get /status
grep -q '"connected":false' "$T/body" || fail "/status still says connected"
stop_daemon

# http.token: every route needs "Authorization: Bearer <token>".
daemon_conf "$T/token.conf" false <<EOF2
http.token = s3cret-token
EOF2
start_daemon "$T/token.conf" "$T/daemon-token.log"
CODE=$(hcurl -o "$T/body" -D "$T/headers" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/status") ||
	fail "curl failed"
[ "$CODE" = 401 ] || fail "no token: $CODE"
grep -q -i '^WWW-Authenticate: Bearer' "$T/headers" || fail "401 without WWW-Authenticate"
[ "$(cat "$T/body")" = '{"error":"unauthorized","message":"missing or wrong bearer token (http.token)"}' ] ||
	fail "401 body: $(cat "$T/body")"
CODE=$(hcurl -o "$T/body" -w '%{http_code}' -H 'Authorization: Bearer wrong' \
	-X POST -d '{}' "http://127.0.0.1:$HTTP_PORT/events/A") || fail "curl failed"
[ "$CODE" = 401 ] || fail "wrong token: $CODE"
CODE=$(hcurl -o "$T/body" -w '%{http_code}' -H 'Authorization: Bearer s3cret-token' \
	"http://127.0.0.1:$HTTP_PORT/status") || fail "curl failed"
[ "$CODE" = 200 ] || fail "right token: $CODE"
stop_daemon
exit 0
