#!/bin/sh
# layers.sh: contrib/check-layers passes on src/ as it is and fails, naming
# the file, on a copy where a low module includes one above it or one its
# row does not name.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

CL=$TESTS_SRCDIR/../contrib/check-layers
sh "$CL" "$TESTS_SRCDIR/.." >"$T/ok.out" 2>&1 || fail "check-layers on src/: $(cat "$T/ok.out")"

mkdir -p "$T/tree/src" "$T/tree/doc"
cp "$TESTS_SRCDIR"/../src/*.[ch] "$T/tree/src/"
cp "$TESTS_SRCDIR/../doc/HACKING.md" "$T/tree/doc/"
sh "$CL" "$T/tree" >/dev/null 2>&1 || fail "check-layers fails on an unchanged copy"
# buf including api (above it), topic including net (below, but not in its row).
printf '#include "api.h"\n' >>"$T/tree/src/buf.c"
printf '#include "net.h"\n' >>"$T/tree/src/topic.c"
if sh "$CL" "$T/tree" >"$T/bad.out" 2>&1; then
	fail "check-layers accepted an upward include: $(cat "$T/bad.out")"
fi
grep -q "src/buf.c includes api.h, a module above it" "$T/bad.out" ||
	fail "check-layers did not name buf.c: $(cat "$T/bad.out")"
grep -q "src/topic.c includes net.h, which its row in the map does not name" "$T/bad.out" ||
	fail "check-layers did not name topic.c: $(cat "$T/bad.out")"
echo "PASS: check-layers"
