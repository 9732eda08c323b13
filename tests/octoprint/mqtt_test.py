"""A third-party plugin as OctoPrint-MQTT's README describes its example:
at start-up it looks up the helpers of plugin "mqtt", announces itself on
octoprint/plugin/mqtt_test/pub, subscribes to octoprint/plugin/mqtt_test/sub
and answers every message there with "echo: <message>" on .../pub.

Written for these tests; it uses only what the README promises, and the
control properties OctoPrint 1.6 and later need.
"""

import octoprint.plugin

PUB = "octoprint/plugin/mqtt_test/pub"
SUB = "octoprint/plugin/mqtt_test/sub"


def _nothing(*args, **kwargs):
    return None


class EchoPlugin(octoprint.plugin.StartupPlugin):

    def __init__(self):
        self.publish = self.subscribe = self.unsubscribe = _nothing
        self.received = []

    def on_after_startup(self):
        names = ("mqtt_publish", "mqtt_subscribe", "mqtt_unsubscribe")
        found = self._plugin_manager.get_helpers("mqtt", *names) or {}
        self.publish = found.get("mqtt_publish", _nothing)
        self.subscribe = found.get("mqtt_subscribe", _nothing)
        self.unsubscribe = found.get("mqtt_unsubscribe", _nothing)
        self.publish(PUB, "test plugin startup")
        self.subscribe(SUB, self.on_message)

    def on_message(self, topic, message, retained=None, qos=None, *args, **kwargs):
        self.received.append((topic, message, retained, qos, args, kwargs))
        self._logger.info("got %s on %s", message, topic)
        self.publish(PUB, "echo: " + message)


__plugin_pythoncompat__ = ">=3.7,<4"
__plugin_implementation__ = EchoPlugin()
