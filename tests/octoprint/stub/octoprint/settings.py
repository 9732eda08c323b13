"""Stand-in for octoprint.settings: settings() is the global settings
object the harness (tests/octoprint/harness.py) made."""

_instance = None


def settings(init=False, basedir=None, configfile=None, overlays=None):
    return _instance
