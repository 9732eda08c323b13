#!/bin/sh
# presence.sh: the host's presence against a real mosquitto (DESIGN §4
# publish.lwHostTimeout, publish.progressRetain, §5 POST/DELETE /presence,
# the "publish" object of GET /status).
# - lwHostTimeout = 0 (default): /presence answers 409 presence_disabled,
#   the status follows the daemon (connected), progress is retained.
# - lwHostTimeout = 2: "disconnected" until the first POST /presence (204,
#   no body), "connected" after it, "disconnected" again 2 s after the
#   last beat; /status shows the daemon's own topics and hostUp.
# - lwHostTimeout = 60: DELETE /presence publishes "disconnected" at once
#   (long before the timeout); a reconnect after a broker restart
#   publishes the state in force: "connected" while the host beats,
#   "disconnected" after its goodbye.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

# request METHOD PATH: sets CODE; the body goes to $T/body, the head to $T/head.
request() {
	CODE=$(hcurl -D "$T/head" -o "$T/body" -w '%{http_code}' -X "$1" \
		${2:+"http://127.0.0.1:$HTTP_PORT$2"}) || fail "curl $1 $2 failed"
}
# beat / bye: POST / DELETE /presence with an empty body, 204 expected.
beat() {
	CODE=$(hcurl -D "$T/head" -o "$T/body" -w '%{http_code}' -X POST -d '' \
		"http://127.0.0.1:$HTTP_PORT/presence") || fail "curl POST /presence failed"
	[ "$CODE" = 204 ] || fail "POST /presence: $CODE $(cat "$T/body")"
	[ ! -s "$T/body" ] || fail "204 with a body: $(cat "$T/body")"
	grep -qi '^content-length' "$T/head" && fail "204 with Content-Length: $(cat "$T/head")"
	return 0
}
bye() {
	request DELETE /presence
	[ "$CODE" = 204 ] || fail "DELETE /presence: $CODE $(cat "$T/body")"
}
# retained TOPIC: the retained message on TOPIC (empty if none within 2 s).
retained() {
	mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "$1" -C 1 -W 2 2>>"$T/sub.log"
}
retained_is() {
	[ "$(retained "$1")" = "$2" ]
}
# nth_status FILE N TEXT: the N-th status message in FILE is TEXT.
nth_status() {
	[ "$(messages "$1" | sed -n "${2}p")" = "$3" ]
}
status_json() {
	request GET /status
	[ "$CODE" = 200 ] || fail "GET /status: $CODE"
	/usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1], encoding="utf-8"))
want = json.loads(sys.argv[2])
got = {k: s["publish"].get(k) for k in want}
assert got == want, (got, want)
' "$T/body" "$1"
}

start_broker

# 1. publish.lwHostTimeout = 0: presence is off.
daemon_conf "$T/off.conf" true </dev/null
start_daemon "$T/off.conf" "$T/daemon-off.log"
OFF_PID=$DAEMON_PID
wait_for "the daemon to connect" 10 grep -q "connected to broker" "$T/daemon-off.log"
wait_for "a retained connected" 10 retained_is octoprint/mqtt connected
request POST /presence
[ "$CODE" = 411 ] || fail "POST /presence without a length: $CODE"
CODE=$(hcurl -o "$T/body" -w '%{http_code}' -X POST -d '' "http://127.0.0.1:$HTTP_PORT/presence")
[ "$CODE" = 409 ] || fail "POST /presence with lwHostTimeout = 0: $CODE"
grep -q '"error":"presence_disabled"' "$T/body" || fail "409 body: $(cat "$T/body")"
request DELETE /presence
[ "$CODE" = 409 ] || fail "DELETE /presence with lwHostTimeout = 0: $CODE"
request GET /presence
[ "$CODE" = 405 ] || fail "GET /presence: $CODE"
grep -qi '^allow: POST, DELETE' "$T/head" || fail "405 without Allow: $(cat "$T/head")"
status_json '{"baseTopic":"octoprint/","eventTopic":"event/{event}","lwTopic":"mqtt",
	"progressTopic":"progress/{progress}","temperatureTopic":"temperature/{temp}",
	"lwActive":true,"lwHostTimeout":0,"hostUp":null,"progressRetain":true}' ||
	fail "/status publish: $(cat "$T/body")"
[ "$(retained octoprint/mqtt)" = connected ] || fail "the 409s changed the status"
# publish.progressRetain = true (default): a later subscriber gets it.
post /progress/printing '{"path":"a.gcode","progress":5}'
[ "$CODE" = 202 ] || fail "POST /progress: $CODE $(cat "$T/body")"
progress_retained() {
	retained octoprint/progress/printing |
		grep -q -x '{"path":"a.gcode","progress":5,"_timestamp":[0-9]*}'
}
wait_for "a retained progress" 10 progress_retained
DAEMON_PID=$OFF_PID DAEMON_CONF=$T/off.conf
stop_daemon

# 2. publish.lwHostTimeout = 2: follows the heartbeat.
: >"$T/p1.out"
start_sub 'printers/p1/mqtt' "$T/p1.out"
daemon_conf "$T/p1.conf" true <<EOF
publish.baseTopic = printers/p1/
publish.lwHostTimeout = 2
publish.progressRetain = false
broker.client_id = octomqttd-presence-p1
EOF
start_daemon "$T/p1.conf" "$T/daemon-p1.log"
P1_PID=$DAEMON_PID P1_PORT=$HTTP_PORT
wait_for "disconnected before any beat" 10 nth_status "$T/p1.out" 1 "printers/p1/mqtt disconnected"
status_json '{"baseTopic":"printers/p1/","lwHostTimeout":2,"hostUp":false,
	"progressRetain":false}' || fail "/status publish: $(cat "$T/body")"
beat
wait_for "connected after the beat" 10 nth_status "$T/p1.out" 2 "printers/p1/mqtt connected"
wait_for "a retained connected" 10 retained_is printers/p1/mqtt connected
status_json '{"hostUp":true}' || fail "/status hostUp: $(cat "$T/body")"
# Beats within the timeout publish nothing new.
beat
beat
# No beat for 2 s: disconnected, retained.
wait_for "disconnected after the timeout" 10 nth_status "$T/p1.out" 3 \
	"printers/p1/mqtt disconnected"
wait_for "a retained disconnected" 10 retained_is printers/p1/mqtt disconnected
grep -q "no POST /presence for 2 s" "$T/daemon-p1.log" || fail "the expiry was not logged"
# publish.progressRetain = false: nothing retained on the progress topic.
post /progress/printing '{"progress":7}'
[ "$CODE" = 202 ] || fail "POST /progress: $CODE $(cat "$T/body")"
[ -z "$(retained printers/p1/progress/printing)" ] || fail "progress retained with progressRetain = false"
DAEMON_PID=$P1_PID DAEMON_CONF=$T/p1.conf
stop_daemon
stop_sub

# 3. publish.lwHostTimeout = 60: DELETE at once, reconnects publish the state in force.
PORT=$BROKER_PORT
# The first daemon's retained "disconnected" would come first otherwise.
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t octoprint/mqtt -r -n 2>>"$T/sub.log" ||
	fail "mosquitto_pub failed"
: >"$T/p2.out"
start_sub 'octoprint/mqtt' "$T/p2.out"
daemon_conf "$T/p2.conf" true <<EOF
publish.lwHostTimeout = 60
broker.client_id = octomqttd-presence-p2
EOF
start_daemon "$T/p2.conf" "$T/daemon-p2.log"
wait_for "disconnected before any beat" 10 nth_status "$T/p2.out" 1 "octoprint/mqtt disconnected"
beat
wait_for "connected after the beat" 10 nth_status "$T/p2.out" 2 "octoprint/mqtt connected"
stop_sub
# A new broker on the same port knows nothing: the reconnect says connected.
stop_broker
start_broker "$PORT"
wait_for "the reconnect" 20 log_has "connected to broker" 2
wait_for "connected after the reconnect" 10 retained_is octoprint/mqtt connected
: >"$T/p3.out"
start_sub 'octoprint/mqtt' "$T/p3.out"
bye
wait_for "disconnected at once after DELETE" 5 nth_status "$T/p3.out" 2 "octoprint/mqtt disconnected"
wait_for "a retained disconnected" 10 retained_is octoprint/mqtt disconnected
grep -q "said goodbye" "$DAEMON_LOG" || fail "the goodbye was not logged"
stop_sub
stop_broker
start_broker "$PORT"
wait_for "the second reconnect" 20 log_has "connected to broker" 3
wait_for "disconnected after the reconnect" 10 retained_is octoprint/mqtt disconnected
beat
wait_for "connected after a new beat" 10 retained_is octoprint/mqtt connected
stop_daemon
echo ok
