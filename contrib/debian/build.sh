#!/bin/sh
# contrib/debian/build.sh [TARBALL]: build the Debian package octomqttd
# from a `make dist` tarball, on Debian 12 or Raspberry Pi OS (bookworm).
#
# Without TARBALL it makes one from this source tree first (autoreconf in
# a git tree or when configure is missing, configure in build-deb/dist,
# make dist). The tarball is unpacked in build-deb/, this directory is
# copied beside it as debian/ (the changelog's version set to the
# tarball's, revision -1), and `dpkg-buildpackage -us -uc -b` builds it.
# The .deb ends up in build-deb/. Missing build packages are installed
# first (contrib/deps.sh --deb; as root or through sudo).
# DEB_BUILD_OPTIONS and DEB_BUILD_PROFILES pass through: nocheck skips
# make check.
#
# Then, as root: dpkg -i build-deb/octomqttd_*.deb
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=$top/build-deb

sh "$top/contrib/deps.sh" --deb

mkdir -p "$out"
if [ $# -ge 1 ]; then
	tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
	if [ -f "$top/config.status" ]; then
		# Configured in place: a second build directory is refused.
		(cd "$top" && make dist-gzip)
		dist=$top
	else
		# In a git tree configure is made again, so that the version is
		# this commit's (build-aux/git-version-gen runs in autoconf).
		if [ -e "$top/.git" ] || [ ! -x "$top/configure" ]; then
			(cd "$top" && autoreconf -fi)
		fi
		dist=$out/dist
		rm -rf "$dist"
		mkdir -p "$dist"
		(cd "$dist" && "$top/configure" -q && make dist-gzip)
	fi
	# shellcheck disable=SC2012 # the newest of our own tarball names
	tarball=$(ls -t "$dist"/octomqttd-*.tar.gz | head -n 1)
fi

name=$(basename "$tarball" .tar.gz)
version=${name#octomqttd-}
src=$out/$name
rm -rf "$src" "$out"/octomqttd_*
tar -xzf "$tarball" -C "$out"
[ -d "$src" ] || {
	echo "build.sh: $tarball does not unpack to $name/" >&2
	exit 1
}

# debian/: every file of this directory but this script and the expected
# file list (contrib/debian/test-installed.sh's).
mkdir "$src/debian"
(cd "$here" && tar -cf - --exclude=./build.sh --exclude=./installed-files \
	--exclude=./test-installed.sh .) | (cd "$src/debian" && tar -xf -)
sed -i "1s/^octomqttd ([^)]*)/octomqttd ($version-1)/" "$src/debian/changelog"

echo "build.sh: building octomqttd $version-1 in $src"
(cd "$src" && dpkg-buildpackage -us -uc -b)
ls "$out"/octomqttd_*.deb
