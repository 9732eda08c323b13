#!/bin/sh
# contrib/debian/test-installed.sh: after `dpkg -i octomqttd_*.deb` (as
# root), check what the package put in place without starting systemd,
# which a container or a chroot does not run:
#   - `dpkg -L octomqttd` is exactly contrib/debian/installed-files;
#   - the unit is installed, names /usr/sbin/octomqttd and
#     /etc/octomqttd.conf, passes systemd-analyze verify (where installed)
#     and is enabled (the multi-user.target.wants link);
#   - /etc/octomqttd.conf is a conffile, 0640 root:octomqttd; the system
#     user exists and owns /var/lib/octomqttd (0750);
#   - `octomqttd -t -c /etc/octomqttd.conf` passes, as root and as the
#     user octomqttd (who reads the file through its group), and fails as
#     nobody (who cannot read it).
set -eu
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
fail() {
	echo "test-installed.sh: FAIL: $*" >&2
	exit 1
}

dpkg -L octomqttd | sort >/tmp/octomqttd-installed.$$
if ! sort "$here/installed-files" | diff -u - /tmp/octomqttd-installed.$$; then
	rm -f /tmp/octomqttd-installed.$$
	fail "dpkg -L octomqttd differs from contrib/debian/installed-files (- expected, + installed)"
fi
rm -f /tmp/octomqttd-installed.$$

unit=/lib/systemd/system/octomqttd.service
[ -f $unit ] || fail "$unit missing"
grep -qx 'ExecStart=/usr/sbin/octomqttd -c /etc/octomqttd.conf' $unit ||
	fail "$unit: $(grep ExecStart $unit)"
grep -qx 'User=octomqttd' $unit || fail "$unit does not run as octomqttd"
if command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze verify $unit || fail "systemd-analyze verify $unit"
fi
[ -L /etc/systemd/system/multi-user.target.wants/octomqttd.service ] ||
	fail "the unit is not enabled (no multi-user.target.wants/octomqttd.service)"

dpkg-query -W -f='${Conffiles}\n' octomqttd | grep -q '^ /etc/octomqttd.conf ' ||
	fail "/etc/octomqttd.conf is not a conffile"
getent passwd octomqttd >/dev/null || fail "no user octomqttd"
getent group octomqttd >/dev/null || fail "no group octomqttd"
perm=$(stat -c '%a %U:%G' /etc/octomqttd.conf)
[ "$perm" = "640 root:octomqttd" ] || fail "/etc/octomqttd.conf is $perm, not 640 root:octomqttd"
perm=$(stat -c '%a %U:%G' /var/lib/octomqttd)
[ "$perm" = "750 octomqttd:octomqttd" ] || fail "/var/lib/octomqttd is $perm, not 750 octomqttd:octomqttd"

/usr/sbin/octomqttd -t -c /etc/octomqttd.conf || fail "octomqttd -t as root"
runuser -u octomqttd -- /usr/sbin/octomqttd -t -c /etc/octomqttd.conf ||
	fail "octomqttd -t as the user octomqttd"
if runuser -u nobody -- /usr/sbin/octomqttd -t -c /etc/octomqttd.conf >/dev/null 2>&1; then
	fail "another user (nobody) can read /etc/octomqttd.conf"
fi
echo "test-installed.sh: unit, configuration, user, state directory and binary in place"
