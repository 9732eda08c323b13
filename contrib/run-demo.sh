#!/bin/sh
# contrib/run-demo.sh: try octomqttd on this machine (Debian 12).
#
# Installs what is missing (contrib/deps.sh --demo), builds out of tree in
# build-demo/, starts a mosquitto on 127.0.0.1:1883 if nothing listens
# there (loopback only, stopped again when the demo ends), and runs the
# daemon in the foreground with contrib/octomqttd.conf. Ctrl-C stops it.
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)

sh contrib/deps.sh --demo

if [ ! -x configure ]; then
	autoreconf -fi
fi
mkdir -p build-demo
cd build-demo
if [ ! -f Makefile ]; then
	../configure -q
fi
make -s -j"$(nproc)"
cd "$top"

# Is a TCP port open on 127.0.0.1? curl's telnet:// connects and then waits
# for input: exit 7 means the connection was refused, anything else that
# something accepted it.
listening() {
	rc=0
	curl -s --max-time 1 "telnet://127.0.0.1:$1" </dev/null >/dev/null 2>&1 || rc=$?
	[ "$rc" -ne 7 ]
}

tmp=
broker_pid=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	if [ -n "$broker_pid" ]; then
		kill "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
	fi
	[ -z "$tmp" ] || rm -rf "$tmp"
}

if ! listening 1883; then
	mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/octomqttd-demo.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	cat >"$tmp/mosquitto.conf" <<EOF
listener 1883 127.0.0.1
allow_anonymous true
persistence false
EOF
	"$mosquitto" -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
	broker_pid=$!
	# Wait for the listener, up to 10 s.
	tries=0
	until listening 1883; do
		tries=$((tries + 1))
		if [ $tries -gt 100 ] || ! kill -0 "$broker_pid" 2>/dev/null; then
			echo "run-demo.sh: mosquitto did not start; its log:" >&2
			cat "$tmp/mosquitto.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "run-demo.sh: started mosquitto on 127.0.0.1:1883 (pid $broker_pid)"
fi

cat <<'EOF'

octomqttd is starting in the foreground (Ctrl-C stops it). In another terminal:

    mosquitto_sub -h 127.0.0.1 -t 'octoprint/#' -v
    curl -X POST http://127.0.0.1:5883/events/Test -d '{"hello":"world"}'

EOF

if [ -z "$broker_pid" ]; then
	exec "$top/build-demo/octomqttd" -c "$top/contrib/octomqttd.conf"
fi
# Not exec: the trap must still stop the mosquitto started above.
rc=0
"$top/build-demo/octomqttd" -c "$top/contrib/octomqttd.conf" || rc=$?
exit "$rc"
