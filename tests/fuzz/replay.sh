#!/bin/sh
# tests/fuzz/replay.sh: every fuzz harness over its seed corpus, in `make
# check`. Each tests/fuzz/fuzz_NAME.c is also built with the normal
# compiler against tests/fuzz/replay.c as tests/fuzz/replay_NAME (see
# tests/fuzz/include.am); this runs it over tests/fuzz/corpus/fuzz_NAME/.
# An input that crashes or trips a FUZZ_ASSERT fails the test, and so does
# a harness without its replay build or its corpus.
#
# Environment: TESTS_SRCDIR (the tests/ source folder), FUZZ_REPLAY_DIR
# (where the replay_* binaries are), FUZZ_REPLAY_WRAPPER (a command to run
# each under, e.g. valgrind; `make check-valgrind` sets it).
set -u

[ -n "${TESTS_SRCDIR:-}" ] && [ -n "${FUZZ_REPLAY_DIR:-}" ] || {
	echo "replay.sh: set TESTS_SRCDIR and FUZZ_REPLAY_DIR (make check does)" >&2
	exit 99
}
wrapper=${FUZZ_REPLAY_WRAPPER:-}
log=$(mktemp "${TMPDIR:-/tmp}/octomqttd-replay.XXXXXX") || exit 99
trap 'rm -f "$log"' EXIT
trap 'exit 130' INT TERM

failed=0
harnesses=0
for src in "$TESTS_SRCDIR"/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	bin=$FUZZ_REPLAY_DIR/replay_${name#fuzz_}
	corpus=$TESTS_SRCDIR/fuzz/corpus/$name
	harnesses=$((harnesses + 1))
	if [ ! -x "$bin" ]; then
		echo "FAIL: $name: no $bin (add it to FUZZ_REPLAYS in tests/fuzz/include.am)"
		failed=1
		continue
	fi
	if [ ! -d "$corpus" ]; then
		echo "FAIL: $name: no seed corpus $corpus"
		failed=1
		continue
	fi
	# $wrapper is a command line: split on purpose.
	# shellcheck disable=SC2086
	if $wrapper "$bin" "$corpus" >"$log" 2>&1; then
		echo "ok: $name: $(tail -n 1 "$log" | sed 's/^replay: //')"
	else
		rc=$?
		echo "FAIL: $name: exit status $rc; the last lines (the input is named first):"
		tail -n 40 "$log" | sed 's/^/    /'
		failed=1
	fi
done
[ "$harnesses" -gt 0 ] || {
	echo "FAIL: no harness found in $TESTS_SRCDIR/fuzz"
	failed=1
}
exit $failed
