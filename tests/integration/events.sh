#!/bin/sh
# events.sh: POST /events/{name} end to end (DESIGN §5). Every OctoPrint
# payload of the event corpus (tests/corpus) is posted to the daemon and must reach a
# subscriber of a real mosquitto byte for byte; then an _event member
# replaced where it stands, whitespace between members, an empty body,
# and _timestamp from the daemon's clock.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

CORPUS=$TESTS_SRCDIR/corpus/octoprint_events.json
[ -r "$CORPUS" ] || fail "corpus not found: $CORPUS"

start_broker
daemon_conf "$T/d.conf" false </dev/null
start_daemon "$T/d.conf"
# Events only: octoprint/mqtt carries the daemon's connected/disconnected status.
start_sub 'octoprint/event/#' "$T/sub.out"

# One body file per event (compact JSON, as a host sends it; null stays
# null) and the line the subscriber must print for it, computed here from
# the corpus rather than by the daemon's rules.
mkdir "$T/ev"
/usr/bin/python3 - "$CORPUS" "$T/ev" <<'PY' || fail "cannot prepare the corpus"
import json, sys
events = json.load(open(sys.argv[1], encoding="utf-8"))
out = sys.argv[2]
names, expected = [], []
for i, e in enumerate(events):
    name, payload = e["event"], e["payload"]
    assert payload is None or isinstance(payload, dict), name
    if payload is None:
        body, text = "null", "{}"
    else:
        body = text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    with open(f"{out}/{i}.body", "w", encoding="utf-8") as f:
        f.write(body)
    member = '"_event":' + json.dumps(name, ensure_ascii=False)
    inner = text[1:-1]
    expected.append(f"octoprint/event/{name} {{{inner + ',' if inner else ''}{member}}}")
    names.append(name)
with open(f"{out}/names", "w", encoding="utf-8") as f:
    f.write("\n".join(names) + "\n")
with open(f"{out}/expected", "w", encoding="utf-8") as f:
    f.write("\n".join(expected) + "\n")
PY

n=0
while read -r name; do
	post_file "/events/$name" "$T/ev/$n.body"
	expect_answer 202 "{\"accepted\":true,\"topic\":\"octoprint/event/$name\"}"
	n=$((n + 1))
done <"$T/ev/names"
[ "$n" -eq 19 ] || fail "expected 19 events in the corpus, found $n"

wait_for "$n messages at the subscriber" 10 count_messages "$T/sub.out" "$n"
messages "$T/sub.out" >"$T/got"
cmp "$T/got" "$T/ev/expected" || {
	diff "$T/ev/expected" "$T/got"
	fail "messages differ from the corpus"
}

# _event replaced where it stands, other members' text kept (1.50 stays
# 1.50, the escape stays); whitespace between members dropped, inside
# values kept; an empty body means {}.
stop_sub
start_sub 'octoprint/event/#' "$T/sub2.out"
post /events/Replaced '{"_event":"old","x":1.50,"s":"a\"b\u00e9"}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Replaced"}'
post /events/Spaces '{ "a" : 1 , "b":[1, 2] }'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Spaces"}'
post /events/Empty ''
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Empty"}'
post /events/Nested '{"_event":{"_event":1},"z":null}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Nested"}'
wait_for "4 messages" 10 count_messages "$T/sub2.out" 4
messages "$T/sub2.out" >"$T/got"
cat >"$T/want" <<'EOF'
octoprint/event/Replaced {"_event":"Replaced","x":1.50,"s":"a\"b\u00e9"}
octoprint/event/Spaces {"a":1,"b":[1, 2],"_event":"Spaces"}
octoprint/event/Empty {"_event":"Empty"}
octoprint/event/Nested {"_event":"Nested","z":null}
EOF
cmp "$T/got" "$T/want" || {
	diff "$T/want" "$T/got"
	fail "rewritten payloads differ"
}
stop_sub
stop_daemon

# publish.timestamp = true: an integer _timestamp from the daemon's clock,
# appended after _event, or replacing one already there where it stands.
daemon_conf "$T/d2.conf" true </dev/null
start_sub 'octoprint/event/#' "$T/sub3.out"
start_daemon "$T/d2.conf" "$T/daemon2.log"
before=$(date +%s)
post /events/Plain '{"k":true,"x":1.50}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Plain"}'
post /events/Stamped '{"_timestamp":"old","k":[1, 2]}'
expect_answer 202 '{"accepted":true,"topic":"octoprint/event/Stamped"}'
after=$(date +%s)
wait_for "the timestamped messages" 10 count_messages "$T/sub3.out" 2
messages "$T/sub3.out" | /usr/bin/python3 -c '
import re, sys
before, after = int(sys.argv[1]), int(sys.argv[2])
want = [
    ("octoprint/event/Plain",
     r"\{\"k\":true,\"x\":1\.50,\"_event\":\"Plain\",\"_timestamp\":(\d+)\}"),
    ("octoprint/event/Stamped",
     r"\{\"_timestamp\":(\d+),\"k\":\[1, 2\],\"_event\":\"Stamped\"\}"),
]
lines = sys.stdin.read().splitlines()
assert len(lines) == 2, lines
for line, (topic, pattern) in zip(lines, want):
    got_topic, payload = line.split(" ", 1)
    assert got_topic == topic, line
    m = re.fullmatch(pattern, payload)
    assert m, line
    assert before <= int(m.group(1)) <= after, (before, line, after)
' "$before" "$after" || fail "bad timestamped payloads: $(messages "$T/sub3.out")"
stop_sub
stop_daemon
exit 0
