#!/bin/sh
# events.sh: POST /events/{name} end to end. Every real OctoPrint payload
# of the shared corpus is posted to the daemon and must reach a subscriber
# of a real mosquitto byte for byte (DESIGN §5); then _event replaced in
# place, whitespace between members dropped, and _timestamp.
. "$TESTS_SRCDIR/integration/lib.sh"

CORPUS=$OCTOMQTTD_SHARED/corpus/octoprint_events.json
[ -r "$CORPUS" ] || fail "corpus not found: $CORPUS (set OCTOMQTTD_SHARED)"
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 not found"

start_broker
daemon_conf "$T/d.conf" <<EOF2
publish.timestamp = false
EOF2
start_daemon "$T/d.conf"
start_sub 'octoprint/#' "$T/sub.out"

# One body file per event (compact JSON, as a host would send it) and the
# line the subscriber must print for it, computed independently here.
mkdir "$T/ev"
/usr/bin/python3 - "$CORPUS" "$T/ev" <<'PY' || fail "cannot prepare the corpus"
import json, sys
events = json.load(open(sys.argv[1], encoding="utf-8"))
out = sys.argv[2]
names = []
expected = []
for i, e in enumerate(events):
    name, payload = e["event"], e["payload"]
    body = "null" if payload is None else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    open(f"{out}/{i}.body", "w", encoding="utf-8").write(body)
    inner = "" if payload is None or body == "{}" else body[1:-1] + ","
    expected.append(f'octoprint/event/{name} {{{inner}"_event":{json.dumps(name)}}}')
    names.append(name)
open(f"{out}/names", "w").write("\n".join(names) + "\n")
open(f"{out}/expected", "w", encoding="utf-8").write("\n".join(expected) + "\n")
PY

n=0
while read -r name; do
	post "/events/$name" "$(cat "$T/ev/$n.body")"
	expect_answer 202 "{\"accepted\":true,\"topic\":\"octoprint/event/$name\"}"
	n=$((n + 1))
done <"$T/ev/names"
[ "$n" -ge 19 ] || fail "only $n events in the corpus"

wait_for "$n messages at the subscriber" 10 count_messages "$T/sub.out" "$n"
messages "$T/sub.out" >"$T/got"
cmp "$T/got" "$T/ev/expected" || {
	diff "$T/ev/expected" "$T/got"
	fail "messages differ from the corpus"
}

# _event replaced where it stands; other members and their text kept;
# whitespace between members dropped, inside values kept.
stop_sub
start_sub 'octoprint/#' "$T/sub2.out"
post /events/Replaced '{"_event":"old","x":1.50,"s":"a\"b"}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Replaced"}'
post /events/Spaces '{ "a" : 1 , "b":[1, 2] }'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Spaces"}'
post /events/Empty ''
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Empty"}'
wait_for "3 messages" 10 count_messages "$T/sub2.out" 3
messages "$T/sub2.out" >"$T/got"
cat >"$T/want" <<'EOF2'
octoprint/event/Replaced {"_event":"Replaced","x":1.50,"s":"a\"b"}
octoprint/event/Spaces {"a":1,"b":[1, 2],"_event":"Spaces"}
octoprint/event/Empty {"_event":"Empty"}
EOF2
cmp "$T/got" "$T/want" || {
	diff "$T/want" "$T/got"
	fail "rewritten payloads differ"
}
stop_daemon

# publish.timestamp = true: an integer _timestamp from the daemon's clock.
daemon_conf "$T/d2.conf" </dev/null
stop_sub
start_sub 'octoprint/#' "$T/sub3.out"
start_daemon "$T/d2.conf" "$T/daemon2.log"
before=$(date +%s)
post /events/Stamped '{"_timestamp":"old","k":true}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Stamped"}'
after=$(date +%s)
wait_for "the timestamped message" 10 count_messages "$T/sub3.out" 1
messages "$T/sub3.out" | /usr/bin/python3 -c '
import json, sys
line = sys.stdin.readline().rstrip("\n")
topic, payload = line.split(" ", 1)
before, after = int(sys.argv[1]), int(sys.argv[2])
keys = list(json.loads(payload).keys())
m = json.loads(payload)
assert topic == "octoprint/event/Stamped", topic
assert keys == ["_timestamp", "k", "_event"], keys
assert isinstance(m["_timestamp"], int) and before <= m["_timestamp"] <= after, m
assert m["_event"] == "Stamped" and m["k"] is True, m
' "$before" "$after" || fail "bad timestamped payload: $(messages "$T/sub3.out")"
stop_daemon
exit 0
