#!/bin/sh
# octoprint_seed.sh: the seed README's example plugin under the stub
# OctoPrint (test_seed_example of tests/octoprint/test_shim.py, through
# octoprint.sh). The README is not part of this tree: it is read from
# $OCTOMQTTD_SHARED/seed at test time, and this test alone is skipped
# when it is not there.
README=${OCTOMQTTD_SHARED:-}/seed/OctoPrint-MQTT-README.md
if [ ! -r "$README" ]; then
	echo "SKIP: seed example: $README not found (set OCTOMQTTD_SHARED to the folder" \
		"holding seed/OctoPrint-MQTT-README.md)"
	exit 77
fi
exec "${SHELL:-/bin/sh}" "$TESTS_SRCDIR/integration/octoprint.sh" test_seed_example
