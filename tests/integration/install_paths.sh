#!/bin/sh
# install_paths.sh: configure with a prefix, sysconfdir and localstatedir
# that are not the defaults, `make install-data install-dist_sysconfDATA
# DESTDIR=...` (every installed file but the binary: no compiling,
# no root), and the installed man pages, systemd unit and sysusers.d file
# name those directories: no /etc/octomqttd.conf, /usr/local/... or
# @placeholder@ is left in them (issue 16 point 3).
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

top=$(cd "$TESTS_SRCDIR/.." && pwd)
# A source tree configured in place refuses a second build directory.
[ -f "$top/config.status" ] && skip "the source tree is configured in place ($top/config.status)"

prefix=/opt/octo
etc=/srv/octo/etc
var=/srv/octo/var
mkdir "$T/build" "$T/root"
(cd "$T/build" && "$top/configure" -q --without-tls --disable-dependency-tracking \
	--prefix=$prefix --sysconfdir=$etc --localstatedir=$var) >"$T/configure.log" 2>&1 ||
	fail "configure: $(tail -n 20 "$T/configure.log")"
make -C "$T/build" install-data install-dist_sysconfDATA DESTDIR="$T/root" >"$T/install.log" 2>&1 ||
	fail "make install-data: $(tail -n 20 "$T/install.log")"

r=$T/root
man8=$r$prefix/share/man/man8/octomqttd.8
man5=$r$prefix/share/man/man5/octomqttd.conf.5
unit=$r$prefix/lib/systemd/system/octomqttd.service
users=$r$prefix/lib/sysusers.d/octomqttd.conf
for f in "$man8" "$man5" "$unit" "$users" "$r$etc/octomqttd.conf"; do
	[ -f "$f" ] || fail "not installed: ${f#"$r"} ($(cd "$r" && find . -type f | sort | tr '\n' ' '))"
done

# Every mention of the configuration file, the state directory and the
# binary is under the configured directories.
for f in "$man8" "$man5" "$unit" "$users"; do
	name=${f#"$r"}
	if grep -n '@[A-Za-z_]*@' "$f"; then fail "$name: a placeholder left"; fi
	if grep -n '/usr/local' "$f"; then fail "$name names /usr/local"; fi
	# With the configured directories taken out, no /etc/octomqttd or
	# /var/lib/octomqttd is left but the unit's StateDirectory, which is
	# /var/lib/octomqttd whatever configure says (its comment says so).
	sed -e "s|$etc||g" -e "s|$var||g" "$f" | grep -n '/etc/octomqttd\|/var/lib/octomqttd' |
		grep -v '(/var/lib/octomqttd), where' >"$T/left" &&
		fail "$name names /etc or /var instead of $etc or $var: $(cat "$T/left")"
done
grep -q "^\.IR $etc/octomqttd\.conf \.\$" "$man8" || fail "octomqttd(8): -c does not name $etc/octomqttd.conf"
grep -q "^\.I $etc/octomqttd\.conf\$" "$man5" || fail "octomqttd.conf(5): FILES does not name $etc/octomqttd.conf"
grep -q "^\.I $var/lib/octomqttd/subscriptions\.json\$" "$man5" ||
	fail "octomqttd.conf(5): state.file's default is not under $var"
grep -qx "ExecStart=$prefix/sbin/octomqttd -c $etc/octomqttd\.conf" "$unit" ||
	fail "the unit's ExecStart: $(grep ExecStart "$unit")"
grep -qx "u octomqttd - \"octomqttd daemon\" $var/lib/octomqttd" "$users" ||
	fail "sysusers.d: $(cat "$users")"
echo "PASS: installed paths under $prefix, $etc, $var"
