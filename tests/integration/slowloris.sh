#!/bin/sh
# slowloris.sh: issue 18's "slow clients never lock out a fast one", at
# default settings (http.max_connections 256, http.header_timeout 5 s,
# http.timeout 30 s). tests/tools/slowloris.py keeps 400 connections that
# each send one byte of a never-ending request head per second (and come
# back a second after the daemon closes one). Meanwhile a normal client
# (curl) must get its 202 for POST /events/Test within 1 s, 20 times in a
# row. Then the daemon is still there, its warnings about the evictions
# came at most once per 10 s (rate-limited logging), and it stops cleanly.
#
# Fails before issue 18: the 256 slots stayed with the slow clients until
# http.timeout (30 s), so curl got 503 too_many_connections at once.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

BROKER_PORT=$("$FREEPORT") # nothing listens there: events are queued, 202
daemon_conf "$T/d.conf" false <<EOF2
log.level = info
EOF2
start_daemon "$T/d.conf"

spawn /usr/bin/python3 "$TESTS_SRCDIR/tools/slowloris.py" "$HTTP_PORT" 400 "$T/slow.status" \
	>"$T/slow.log" 2>&1
SLOW_PID=$SPAWNED
T0=$(date +%s)

# status KEY: a number from the slow clients' status line.
status() {
	sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$T/slow.status" 2>/dev/null
}
saturated() {
	[ -s "$T/slow.status" ] || return 1
	[ "$(status opened)" -ge 400 ] && [ "$(status closed)" -ge 144 ] &&
		[ "$(($(date +%s) - T0))" -ge 7 ]
}
# All 400 opened, the daemon full and closing them (evictions and 408s)
# for longer than http.header_timeout: the steady state of the attack.
wait_for "400 slow connections, the daemon full" 60 saturated
alive "$SLOW_PID" || fail "slowloris.py exited: $(cat "$T/slow.log")"
echo "slow clients: $(cat "$T/slow.status")"

i=0
while [ "$i" -lt 20 ]; do
	i=$((i + 1))
	out=$(hcurl -o "$T/body" -w '%{http_code} %{time_total}' -d '{"n":'"$i"'}' \
		"http://127.0.0.1:$HTTP_PORT/events/Test") || fail "try $i: curl failed"
	code=${out% *}
	secs=${out#* }
	[ "$code" = 202 ] || fail "try $i: HTTP $code in $secs s: $(cat "$T/body")"
	awk -v s="$secs" 'BEGIN { exit !(s <= 1.0) }' || fail "try $i: 202 took $secs s"
	echo "try $i: 202 in $secs s"
done
alive "$SLOW_PID" || fail "slowloris.py exited: $(cat "$T/slow.log")"
echo "slow clients: $(cat "$T/slow.status")"
[ "$(status open)" -ge 200 ] || fail "the slow clients were not holding the daemon full"

# Evictions are counted in /status (and /metrics) as well as logged.
evicted=$(hcurl "http://127.0.0.1:$HTTP_PORT/status" |
	sed -n 's/.*"http_evicted":\([0-9]*\).*/\1/p')
echo "http_evicted: $evicted"
[ "${evicted:-0}" -ge 1 ] || fail "no eviction counted in /status (http_evicted '$evicted')"

kill "$SLOW_PID"
wait "$SLOW_PID" 2>/dev/null
forget "$SLOW_PID"
alive "$DAEMON_PID" || fail "octomqttd died"
stop_daemon

# Rate-limited: the first eviction, then at most one summary per 10 s.
secs=$(($(date +%s) - T0 + 1))
n=$(log_count 'closed to admit')
echo "eviction warnings: $n in $secs s"
[ "$n" -ge 1 ] || fail "no eviction was logged"
[ "$n" -le $((secs / 10 + 2)) ] || fail "$n eviction warnings in $secs s: not rate-limited"
log_has 'closed to admit .*\(repeated [0-9,]+ times? in the last [0-9]+ s\)' ||
	fail "no summary of the held-back eviction warnings"
echo "ok"
