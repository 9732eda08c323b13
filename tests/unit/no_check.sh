#!/bin/sh
# no_check.sh: stands in for the unit tests when configure did not find
# Check (they are built with it): make check fails here, saying why.
echo "FAIL: the unit tests need Check: install the Debian package 'check'" \
	"(apt-get install check), then run configure again"
exit 1
