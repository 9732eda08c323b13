#!/bin/sh
# contrib/deps.sh [--build-only | --demo | --deb]: install the Debian 12
# packages octomqttd needs that are not installed yet, and nothing else.
#
#   --build-only  what `autoreconf -fi && ./configure && make` needs
#   --demo        that, plus mosquitto and curl for contrib/run-demo.sh
#   --deb         that, plus debhelper for contrib/debian/build.sh
#   (default)     everything contrib/test-all.sh uses: the above plus
#                 valgrind, clang with libFuzzer, clang-format, openssl,
#                 debhelper and lintian (the package stage), ...
#
# Silent when everything is there. Runs apt-get as root, through sudo when
# not root; without either it prints the command to run and exits 1.
set -eu

build_pkgs="build-essential autoconf automake libtool pkg-config libmbedtls-dev libjsmn-dev
check libsubunit-dev"
demo_pkgs="mosquitto mosquitto-clients curl ca-certificates"
# dpkg-buildpackage (dpkg-dev) and dh; adduser is what the package's
# postinst needs to install.
deb_pkgs="dpkg-dev debhelper adduser"
# libclang-rt-dev holds libFuzzer and clang's sanitizer runtimes: clang
# alone does not link -fsanitize=fuzzer when recommends are not installed.
test_pkgs="valgrind clang libclang-rt-dev clang-format openssl python3 git lintian"

case ${1:-} in
--build-only) want=$build_pkgs ;;
--demo) want="$build_pkgs $demo_pkgs" ;;
--deb) want="$build_pkgs $deb_pkgs" ;;
'') want="$build_pkgs $demo_pkgs $deb_pkgs $test_pkgs" ;;
*)
	echo "usage: $0 [--build-only | --demo | --deb]" >&2
	exit 2
	;;
esac

missing=
for pkg in $want; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
	case $status in
	ii*) ;;
	*) missing="$missing $pkg" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	sudo=
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: as root, run:" >&2
	echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi

echo "deps.sh: installing:$missing"
# shellcheck disable=SC2086 # word splitting of the package list is intended
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
