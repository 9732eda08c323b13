#!/bin/sh
# cli.sh: the command line of DESIGN §3: -V, -h, bad options (64), -t on a
# good and a bad file (0 / 1 with FILE:LINE), a bad config at start-up (78),
# a missing file. No broker is needed.
. "$TESTS_SRCDIR/integration/lib.sh"

out=$("$OCTOMQTTD" -V) || fail "-V exited $?"
[ "$out" = "octomqttd 0.1.0" ] || fail "-V printed '$out'"

"$OCTOMQTTD" -h >"$T/help" 2>"$T/err" || fail "-h exited $?"
grep -q -- '-c FILE' "$T/help" || fail "-h does not mention -c FILE"
[ ! -s "$T/err" ] || fail "-h wrote to stderr"

"$OCTOMQTTD" -x >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 64 ] || fail "bad option exited $rc, not 64"
grep -q '^usage: octomqttd' "$T/err" || fail "bad option: no usage on stderr"
"$OCTOMQTTD" extra-arg >/dev/null 2>&1
[ $? -eq 64 ] || fail "a stray argument must exit 64"

printf 'broker.url = 127.0.0.1\n' >"$T/good.conf"
out=$("$OCTOMQTTD" -t -c "$T/good.conf") || fail "-t on a good file exited $?"
[ "$out" = "$T/good.conf: configuration OK" ] || fail "-t printed '$out'"

printf 'broker.url = 127.0.0.1\n\nbroker.keepalive = 6O\n' >"$T/bad.conf"
"$OCTOMQTTD" -t -c "$T/bad.conf" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] || fail "-t on a bad file exited $rc, not 1"
[ "$(cat "$T/err")" = "$T/bad.conf:3: broker.keepalive: expected an integer from 0 to 65535, got '6O'" ] ||
	fail "-t message: $(cat "$T/err")"

# The same file at start-up: EX_CONFIG, the same message, nothing started.
"$OCTOMQTTD" -c "$T/bad.conf" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 78 ] || fail "bad config at start-up exited $rc, not 78"
grep -q "^$T/bad.conf:3: broker.keepalive" "$T/err" || fail "start-up message: $(cat "$T/err")"

"$OCTOMQTTD" -c "$T/missing.conf" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 78 ] || fail "missing config exited $rc, not 78"
[ "$(cat "$T/err")" = "$T/missing.conf: cannot read: No such file or directory" ] ||
	fail "missing config message: $(cat "$T/err")"

printf 'broker.urll = x\n' >"$T/unknown.conf"
"$OCTOMQTTD" -t -c "$T/unknown.conf" 2>"$T/err"
[ "$(cat "$T/err")" = "$T/unknown.conf:1: unknown key 'broker.urll'" ] ||
	fail "unknown key message: $(cat "$T/err")"

# Cannot listen (the port is taken): exit 1 naming the address.
HOLD=$("$FREEPORT")
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
sys.stdout.write("ready\n"); sys.stdout.flush(); time.sleep(60)
' "$HOLD" >"$T/hold" &
PIDS="$PIDS $!"
wait_for "the port holder" 10 grep -q ready "$T/hold"
printf 'broker.url = 127.0.0.1\nhttp.listen = 127.0.0.1:%s\n' "$HOLD" >"$T/busy.conf"
"$OCTOMQTTD" -c "$T/busy.conf" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] || fail "busy port exited $rc, not 1"
grep -q "listen 127.0.0.1:$HOLD: Address already in use" "$T/err" || fail "busy port: $(cat "$T/err")"
exit 0
