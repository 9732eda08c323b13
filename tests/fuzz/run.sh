#!/bin/sh
# tests/fuzz/run.sh SECONDS FUZZER...
#
# Runs each libFuzzer binary for SECONDS over a copy of its seed corpus
# (tests/fuzz/corpus/<name>/, beside this script) in a temporary directory,
# so the source tree is never modified; new inputs are thrown away. Prints
# one summary line per fuzzer. Exits 1 if any fuzzer found a crash, leak,
# timeout or failed assertion; its log tail is printed and the crashing
# input is kept in ./fuzz-artifacts/. `make fuzz-run FUZZ_SECONDS=N` calls it.
set -u

usage() {
	echo "usage: $0 SECONDS FUZZER..." >&2
	exit 2
}

[ $# -ge 2 ] || usage
seconds=$1
shift
case $seconds in
'' | *[!0-9]*) usage ;;
esac

corpora=$(cd "$(dirname "$0")" && pwd)/corpus
tmp=$(mktemp -d "${TMPDIR:-/tmp}/octomqttd-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

failed=0
for fuzzer in "$@"; do
	name=$(basename "$fuzzer")
	case $fuzzer in
	*/*) ;;
	*) fuzzer=./$fuzzer ;;
	esac
	if [ ! -x "$fuzzer" ]; then
		echo "$name: FAILED: $fuzzer is not an executable (configure --enable-fuzzing CC=clang)"
		failed=1
		continue
	fi
	work=$tmp/$name
	mkdir -p "$work/corpus" "$work/artifacts"
	if [ -d "$corpora/$name" ]; then
		cp "$corpora/$name"/* "$work/corpus/"
	fi
	seeds=$(find "$work/corpus" -type f | wc -l)
	start=$(date +%s)
	"$fuzzer" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" \
		"$work/corpus" >"$work/log" 2>&1
	rc=$?
	elapsed=$(($(date +%s) - start))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
	files=$(find "$work/corpus" -type f | wc -l)
	if [ $rc -eq 0 ]; then
		echo "$name: ok, ${runs:-?} runs in ${elapsed}s, corpus $seeds -> $files inputs"
		continue
	fi
	failed=1
	echo "$name: FAILED (exit $rc) after ${elapsed}s, ${runs:-?} runs; log tail:"
	tail -n 40 "$work/log" | sed 's/^/    /'
	if [ -n "$(ls "$work/artifacts")" ]; then
		mkdir -p fuzz-artifacts
		for a in "$work/artifacts"/*; do
			cp "$a" "fuzz-artifacts/$name-$(basename "$a")"
			echo "    kept fuzz-artifacts/$name-$(basename "$a") (reproduce: $fuzzer FILE)"
		done
	fi
done
exit $failed
