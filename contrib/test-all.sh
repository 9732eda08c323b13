#!/bin/sh
# contrib/test-all.sh: everything CI checks, in fresh build directories
# under build-ci/ (`.ci/run` calls it; run it from any directory).
#
# Stages (after 0, installing what is missing), stopping at the first failure (named in the last line):
#   1 gcc         autoreconf, configure, make, make check, make distcheck
#   2 clang       configure CC=clang, make, make check
#   3 sanitizers  gcc --enable-sanitizers (ASan + UBSan), make check
#   4 valgrind    make check-valgrind in the gcc build
#   5 no-tls      configure --without-tls, make, make check
#   6 fuzzing     clang --enable-fuzzing, make fuzz-run (FUZZ_SECONDS, default 20;
#                 CI must stay under 30 minutes: 1778 s with 30 on a busy machine)
#   7 format      make format-check, make check-layers
#   8 debian      the Debian package from stage 1's tarball (no make check:
#                 the stages above ran it), lintian, dpkg -i, the installed
#                 files (contrib/debian/test-installed.sh), dpkg --purge
# The tests need nothing outside the repository (their data is under
# tests/) but the seed README of tests/integration/octoprint_seed.sh, read
# from OCTOMQTTD_SHARED (default ../shared beside the repository): when that
# folder does not exist, that one test is allowed to skip, no other.
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)
jobs=3
fuzz_seconds=${FUZZ_SECONDS:-20}

now() { date +%s; }

run_start=$(now)
stage_name=
stage_no=-1
stage_start=0

on_exit() {
	rc=$?
	if [ $rc -ne 0 ] && [ -n "$stage_name" ]; then
		echo "==== FAILED: stage $stage_no ($stage_name), exit $rc, after" \
			"$(($(now) - stage_start))s ===="
	fi
}
trap on_exit EXIT

begin() {
	stage_no=$((stage_no + 1))
	stage_name=$1
	stage_start=$(now)
	echo
	echo "==== stage $stage_no: $stage_name ===="
}

end() {
	echo "==== stage $stage_no: $stage_name ok ($(($(now) - stage_start))s) ===="
	stage_name=
}

# The logs of failed tests below the current directory (distcheck's too).
failed_logs() {
	find . -name '*.trs' | while read -r trs; do
		if grep -Eq '^:test-result: (FAIL|ERROR|XPASS)' "$trs"; then
			echo "---- ${trs%.trs}.log ----"
			cat "${trs%.trs}.log"
		fi
	done
}

# configure in a fresh build-ci/NAME with the given arguments.
fresh() {
	dir=$top/build-ci/$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	cd "$dir"
	"$top/configure" -q "$@"
}

# make check; then no test may have been skipped but those whose names
# match $1 (a grep -E pattern; default $may_skip): CI installs everything the
# tests need, so a skip there means coverage silently lost.
check() {
	make -j$jobs check || {
		failed_logs
		exit 1
	}
	skipped=$(find . -name '*.trs' -path '*tests/*' -exec grep -l '^:test-result: SKIP' {} + |
		sed 's/\.trs$//' | grep -v -E "${1:-$may_skip}" || true)
	if [ -n "$skipped" ]; then
		echo "test-all.sh: skipped, but nothing here should be:" $skipped
		for t in $skipped; do
			tail -n 5 "$t.log"
		done
		exit 1
	fi
}

begin "dependencies"
sh contrib/deps.sh
OCTOMQTTD_SHARED=${OCTOMQTTD_SHARED:-$top/../shared}
may_skip='^$'
if [ -d "$OCTOMQTTD_SHARED" ]; then
	# distcheck builds from a tarball elsewhere: the path must be absolute.
	OCTOMQTTD_SHARED=$(cd "$OCTOMQTTD_SHARED" && pwd)
else
	echo "test-all.sh: $OCTOMQTTD_SHARED does not exist: octoprint_seed" \
		"(the seed README's example) will be skipped"
	may_skip='/octoprint_seed$'
fi
export OCTOMQTTD_SHARED
end

begin "gcc: build, make check, make distcheck"
autoreconf -fi
rm -rf "$top/build-ci"
fresh gcc CC=gcc
make -j$jobs
check
make -j$jobs distcheck || {
	failed_logs
	exit 1
}
end

begin "clang: build, make check"
fresh clang CC=clang
make -j$jobs
check
end

begin "sanitizers: ASan + UBSan, make check"
fresh asan CC=gcc --enable-sanitizers
make -j$jobs
(
	ASAN_OPTIONS=detect_leaks=1
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	export ASAN_OPTIONS UBSAN_OPTIONS
	check
)
end

begin "valgrind: make check-valgrind"
cd "$top/build-ci/gcc"
make check-valgrind
end

begin "no TLS: --without-tls, make check"
fresh notls CC=gcc --without-tls
make -j$jobs
check "/tls_[a-z]+\$|$may_skip"
end

begin "fuzzing: every fuzzer for ${fuzz_seconds}s"
fresh fuzz CC=clang --enable-fuzzing
make -j$jobs fuzz-run FUZZ_SECONDS="$fuzz_seconds"
end

begin "format: make format-check, make check-layers"
cd "$top/build-ci/gcc"
make format-check
make check-layers
end

begin "debian: package, lintian, dpkg -i, installed files, purge"
cd "$top"
# Root for dpkg; CI is root.
as_root=
[ "$(id -u)" -eq 0 ] || as_root=sudo
DEB_BUILD_OPTIONS="nocheck parallel=$jobs" DEB_BUILD_PROFILES=nocheck \
	sh contrib/debian/build.sh "$top"/build-ci/gcc/octomqttd-*.tar.gz
deb=$(ls "$top"/build-deb/octomqttd_*.deb)
lintian -I --pedantic --fail-on error,warning "$deb"
$as_root dpkg -i "$deb"
$as_root sh contrib/debian/test-installed.sh
$as_root dpkg --purge octomqttd
for f in /usr/sbin/octomqttd /etc/octomqttd.conf /var/lib/octomqttd; do
	if [ -e "$f" ]; then
		echo "test-all.sh: $f is left after dpkg --purge octomqttd"
		exit 1
	fi
done
end

echo
echo "==== all stages passed in $(($(now) - run_start))s ===="
