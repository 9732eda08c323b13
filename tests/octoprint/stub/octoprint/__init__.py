"""Test stand-in for the parts of OctoPrint the octomqttd plugin uses.

Not OctoPrint: only the base classes of octoprint.plugin and the
decorators of BlueprintPlugin, enough to load the plugin and drive it
(tests/octoprint/harness.py plays the plugin manager and the web server).
"""
