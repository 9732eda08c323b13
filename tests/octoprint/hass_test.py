"""A consumer of the "mqtt" helpers that calls them the way
OctoPrint-HomeAssistant 3.7.0 does (its octoprint_homeassistant/__init__.py
was read to model this; nothing is copied):

- helpers looked up in on_after_startup with get_helpers("mqtt", ...);
- every topic built from the global settings plugins.mqtt.publish.*
  (baseTopic, lwTopic, temperatureTopic, ...) with defaults of its own
  that differ from octomqttd's ("octoPrint/"), placeholders cut off;
- a subscription to <baseTopic><lwTopic>, a "connected" published there,
  controls under <baseTopic>hassControl/<name> whose callbacks compare the
  payload with bytes (b"PRESS", b"True", b"False") and call .decode();
- a camera snapshot published as bytes with raw_data=True;
- helpers called from on_event (is_printing, printer status with a
  timestamp).

Identifier "hass_test" sorts before "mqtt", as "homeassistant" does: its
on_after_startup runs first.
"""

import re

import octoprint.plugin
from octoprint.events import Events
from octoprint.settings import settings

MQTT_DEFAULTS = dict(publish=dict(baseTopic="octoPrint/", eventTopic="event/{event}",
                                  progressTopic="progress/{progress}",
                                  temperatureTopic="temperature/{temp}", lwTopic="mqtt",
                                  hassTopic="hass/{hass}", controlTopic="hassControl/{control}"))

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) + b"\xff\xd9"


class HassTestPlugin(octoprint.plugin.StartupPlugin, octoprint.plugin.EventHandlerPlugin):

    def __init__(self):
        self.mqtt_publish = None
        self.mqtt_publish_with_timestamp = None
        self.mqtt_subscribe = None
        self.log = []          # what the callbacks saw and did
        self.returns = []      # (helper, return value, seconds taken)

    def topic(self, kind, rest, full=False):
        defaults = dict(plugins=dict(mqtt=MQTT_DEFAULTS))
        t = ""
        if kind != "baseTopic":
            t = re.sub(r"{.+}", "", settings().get(["plugins", "mqtt", "publish", kind],
                                                   defaults=defaults))
        if full or kind == "baseTopic":
            t = settings().get(["plugins", "mqtt", "publish", "baseTopic"],
                               defaults=defaults) + t
        return t + rest

    def on_after_startup(self):
        helpers = self._plugin_manager.get_helpers(
            "mqtt", "mqtt_publish", "mqtt_publish_with_timestamp", "mqtt_subscribe")
        self.mqtt_publish = helpers["mqtt_publish"]
        self.mqtt_publish_with_timestamp = helpers["mqtt_publish_with_timestamp"]
        self.mqtt_subscribe = helpers["mqtt_subscribe"]
        self.mqtt_subscribe(self.topic("lwTopic", "", full=True), self.on_lw)
        for name, cb in (("stop", self.on_stop), ("pause", self.on_pause),
                         ("camera", self.on_camera), ("psu", self.on_psu)):
            self.mqtt_subscribe(self.topic("controlTopic", name, full=True), cb)
        self.mqtt_publish(self.topic("lwTopic", "", full=True), "connected",
                          allow_queueing=True)
        self.mqtt_publish(self.topic("hassTopic", "is_printing", full=True), "False",
                          allow_queueing=True)

    def on_lw(self, topic, message, retained=None, qos=None, *args, **kwargs):
        try:
            message = message.decode()
        except (UnicodeDecodeError, AttributeError):
            pass
        self.log.append(("lw", message))

    def on_stop(self, topic, message, retained=None, qos=None, *args, **kwargs):
        if message == b"PRESS":
            self._printer.commands("M112")
            self.log.append(("stop",))
        else:
            self.log.append(("unknown", "stop", message))

    def on_pause(self, topic, message, retained=None, qos=None, *args, **kwargs):
        if message == b"True":
            self._printer.pause_print()
            self.log.append(("pause",))
        elif message == b"False":
            self._printer.resume_print()
            self.log.append(("resume",))
        else:
            self.log.append(("unknown", "pause", message))

    def on_psu(self, topic, message, retained=None, qos=None, *args, **kwargs):
        message = message.decode()
        self.log.append(("psu", message))

    def on_camera(self, topic, message, retained=None, qos=None, *args, **kwargs):
        if message == b"PRESS":
            ok = self.mqtt_publish(self.topic("baseTopic", "camera", full=True), JPEG,
                                   allow_queueing=False, raw_data=True)
            self.log.append(("camera", ok))
        else:
            self.log.append(("unknown", "camera", message))

    def on_event(self, event, payload):
        import time

        if self.mqtt_publish is None:
            return
        if event == Events.PRINT_STARTED:
            start = time.monotonic()
            r = self.mqtt_publish(self.topic("hassTopic", "is_printing", full=True), "True",
                                  allow_queueing=True)
            self.returns.append(("mqtt_publish", r, time.monotonic() - start))
        if event in (Events.PRINT_STARTED, Events.PRINT_DONE, "Ping"):
            start = time.monotonic()
            r = self.mqtt_publish_with_timestamp(
                self.topic("hassTopic", "printing", full=True),
                {"event": event, "n": (payload or {}).get("n")}, allow_queueing=True)
            self.returns.append(("mqtt_publish_with_timestamp", r, time.monotonic() - start))


__plugin_name__ = "HomeAssistant-like test consumer"
__plugin_pythoncompat__ = ">=3.7,<4"


def __plugin_load__():
    global __plugin_implementation__
    __plugin_implementation__ = HassTestPlugin()
