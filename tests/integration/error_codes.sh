#!/bin/sh
# error_codes.sh: every `error` code the API can send is documented, and
# every documented one is sent (issue 18). The codes are read from the
# source: the string literals among the arguments of each
# http_response_error(...) and api_accepted(...) call (a call may span
# lines), and what hs_error_code() in src/http_server.c returns (the
# parser's errors). The list is the table under "## Error codes" in
# doc/CHOICES.md, one `code` per row. No daemon is run.
#
# Fails before issue 18: doc/CHOICES.md had no such table (and spool_error,
# request_timeout and others were listed nowhere).
set -u
[ -n "${TESTS_SRCDIR:-}" ] || {
	echo "error_codes.sh: set TESTS_SRCDIR (make check does)" >&2
	exit 99
}
top=$TESTS_SRCDIR/..
choices=$top/doc/CHOICES.md
tmp=$(mktemp -d "${TMPDIR:-/tmp}/octomqttd-codes.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# Codes in the source.
for f in "$top"/src/*.c; do
	awk '
	# Join each call from its name to the ";" that ends it.
	/(http_response_error|api_accepted)\(/ && !/^(static )?void / { call = ""; inside = 1 }
	inside { call = call $0; if ($0 ~ /;/) { print call; inside = 0 } }
	/^static const char \*hs_error_code\(/ { hs = 1 }
	hs && /return "/ { print }
	hs && /^}/ { hs = 0 }
	' "$f"
done | grep -o '"[a-z][a-z0-9_]*"' | tr -d '"' | sort -u >"$tmp/sent"

# Codes documented: the rows of the table under "## Error codes".
sed -n '/^## Error codes/,/^## /p' "$choices" | sed -n 's/^| `\([a-z0-9_]*\)` |.*/\1/p' |
	sort -u >"$tmp/documented"

[ -s "$tmp/sent" ] || {
	echo "FAIL: no error code found in $top/src (did the calls change?)"
	exit 1
}
status=0
for code in $(comm -23 "$tmp/sent" "$tmp/documented"); do
	echo "FAIL: error code $code is sent but not in doc/CHOICES.md's \"Error codes\" table"
	status=1
done
for code in $(comm -13 "$tmp/sent" "$tmp/documented"); do
	echo "FAIL: error code $code is documented but never sent"
	status=1
done
[ "$status" -eq 0 ] && echo "ok: $(wc -l <"$tmp/sent") error codes, each documented"
exit $status
