"""OctoPrint plugin "mqtt" backed by octomqttd (DESIGN section 9).

It registers under OctoPrint-MQTT's plugin identifier ("mqtt") and offers
the same helpers, but speaks no MQTT itself. Events, progress and
temperatures go to octomqttd's HTTP API; subscriptions become octomqttd
webhooks that point at a route this plugin serves inside OctoPrint.

Nothing an OctoPrint thread calls waits for octomqttd: helpers and event
handlers append to one bounded queue that one sender thread works off,
in order, one request at a time, and never sends a request twice. A
monitor thread reads GET /status (the broker state the helpers answer
from, and the topic settings served as plugins.mqtt.publish.*) and sends
the POST /presence heartbeat.

Only the standard library is used (plus flask, which OctoPrint ships).
"""

import base64
import collections
import http.client
import json
import re
import secrets
import select
import socket
import threading
import time
import urllib.parse

import flask
import octoprint.plugin

__version__ = "0.2.0"

DEFAULT_URL = "http://127.0.0.1:5883"
WEBHOOK_PREFIX = "webhook/"
EVENT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
OVERLAY_KEY = "octomqttd-daemon-settings"

# What octomqttd's GET /status "publish" object holds, under the names
# OctoPrint-MQTT used in plugins.mqtt.publish; the values are octomqttd's
# defaults until the daemon has answered.
PUBLISH_KEYS = ("baseTopic", "eventTopic", "progressTopic", "temperatureTopic", "lwTopic",
                "eventActive", "progressActive", "temperatureActive", "lwActive")
PUBLISH_DEFAULTS = dict(baseTopic="octoprint/", eventTopic="event/{event}",
                        progressTopic="progress/{progress}",
                        temperatureTopic="temperature/{temp}", lwTopic="mqtt",
                        eventActive=True, progressActive=True, temperatureActive=True,
                        lwActive=True)

CONTROL_COMMANDS = ("connect", "disconnect", "pause", "resume", "cancel", "home", "gcode")

# OctoPrint's temperature hook names heaters T0, T1, B, C; its printer
# callbacks (and so the OctoPrint-MQTT topics) call them tool0, tool1, bed,
# chamber. Other sensor names are kept as they are.
_TOOL = re.compile(r"^T(\d+)$")


def sensor_name(key):
    m = _TOOL.match(key)
    if m:
        return "tool" + m.group(1)
    return {"B": "bed", "C": "chamber"}.get(key, key)


class Payload(bytes):
    """A message payload as callbacks get it: bytes, as OctoPrint-MQTT
    (paho) passed it on Python 3, so `payload == b"PRESS"`,
    `payload.decode()` and `json.loads(payload)` work as they did. The one
    addition: concatenating with a str concatenates the text instead of
    raising TypeError, so the example of OctoPrint-MQTT's README
    ("echo: " + message) runs as its authors meant."""

    __slots__ = ()

    def __add__(self, other):
        if isinstance(other, str):
            return self.decode("utf-8", "replace") + other
        return bytes.__add__(self, other)

    def __radd__(self, other):
        if isinstance(other, str):
            return other + self.decode("utf-8", "replace")
        return NotImplemented


def _json_default(obj):
    """JSON for what OctoPrint puts in payloads beyond plain types."""
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).decode("utf-8", "replace")
    return str(obj)


def to_json(value):
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def publish_body(topic, payload, retained, qos, allow_queueing, raw_data=False):
    """The POST /publish body for a helper call (DESIGN sections 5 and 9).

    bytes-like payloads are sent as they are; a str as its text; with
    raw_data, int/float as their text and None as an empty message (what
    paho made of them), anything else TypeError as paho raised; without
    raw_data any other value goes as JSON."""
    body = {"topic": topic, "retained": bool(retained), "qos": int(qos),
            "allow_queueing": bool(allow_queueing)}
    if isinstance(payload, (bytes, bytearray, memoryview)):
        body["payload_base64"] = base64.b64encode(bytes(payload)).decode("ascii")
    elif isinstance(payload, str):
        body["payload"] = payload
    elif raw_data:
        if payload is None:
            pass
        elif isinstance(payload, (int, float)) and not isinstance(payload, bool):
            body["payload"] = str(payload)
        else:
            raise TypeError("payload must be a string, bytearray, int, float or None.")
    else:
        # Any other value goes as JSON; the daemon publishes its JSON text.
        body["payload"] = json.loads(to_json(payload))
    return body


def topic_matches(filt, topic):
    """MQTT filter matching ('+', '#', '$' topics not matched by wildcards)."""
    f = filt.split("/")
    t = topic.split("/")
    if topic.startswith("$") and f[0] in ("+", "#"):
        return False
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t):
            return False
        if part != "+" and part != t[i]:
            return False
    return len(f) == len(t)


class NotSent(OSError):
    """The daemon could not be reached: nothing of the request left."""


class MaybeSent(OSError):
    """The request may have reached the daemon (timeout, connection lost):
    it must not be sent again."""


class DaemonClient:
    """JSON requests to octomqttd, one at a time. One instance per thread.

    A request is sent once: a failure is reported, never retried here. A
    kept-alive connection the daemon has closed meanwhile is noticed
    before use (it reads as EOF) and replaced."""

    def __init__(self, url, token, timeout):
        u = urllib.parse.urlsplit(url or DEFAULT_URL)
        if u.scheme not in ("http", "https"):
            raise ValueError("octomqttd URL must be http:// or https://: %r" % url)
        self.https = u.scheme == "https"
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or (443 if self.https else 80)
        self.base = u.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _stale(self):
        sock = self.conn.sock if self.conn is not None else None
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        # Nothing is due from the daemon between requests: readable
        # means it closed the connection (or broke the protocol).
        return bool(readable)

    def request(self, method, path, body=None):
        """(status, decoded JSON or None); NotSent or MaybeSent on failure."""
        data = None if body is None else to_json(body).encode("utf-8")
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        elif method in ("POST", "PUT"):
            headers["Content-Length"] = "0"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        where = "octomqttd at %s:%d" % (self.host, self.port)
        if self.conn is not None and self._stale():
            self.close()
        if self.conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self.conn = cls(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.connect()
            except OSError as e:
                self.close()
                raise NotSent("%s unreachable: %s" % (where, e)) from None
        try:
            self.conn.request(method, self.base + path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            if isinstance(e, socket.timeout):
                what = "no answer within %g s" % self.timeout
            else:
                what = str(e) or type(e).__name__
            raise MaybeSent("%s: %s %s: %s" % (where, method, path, what)) from None
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            answer = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            answer = None
        return resp.status, answer


# One entry of the send queue. kind: "forward" (events, progress,
# temperatures: the oldest is dropped when the queue is full), "publish"
# (a helper call that was answered True), "subscribe", "unsubscribe".
Item = collections.namedtuple("Item", "kind method path body retry extra")


class OctomqttdPlugin(octoprint.plugin.SettingsPlugin,
                      octoprint.plugin.StartupPlugin,
                      octoprint.plugin.ShutdownPlugin,
                      octoprint.plugin.EventHandlerPlugin,
                      octoprint.plugin.ProgressPlugin,
                      octoprint.plugin.BlueprintPlugin):

    def __init__(self):
        self._port = None
        self._cond = threading.Condition()
        self._queue = collections.deque()
        self._queue_size = 1000
        self._dropped = 0
        self._sender = None
        self._monitor = None
        self._stopping = False
        self._stop_evt = threading.Event()
        self._sent = 0
        self._down = False           # the daemon could not be reached
        self._warned = set()         # (route, status, error) causes warned about
        # What the daemon said last: broker connected (True/False) at
        # monotonic time _state_at; None: unknown.
        self._broker = None
        self._state_at = 0.0
        self._status = None          # the last GET /status "publish" object
        self._first_status = threading.Event()
        self._served = None          # the values in the settings overlay
        self._presence_off = False   # the daemon answered 409 presence_disabled
        # Subscriptions: one webhook URL (token) per callback.
        self._subs_lock = threading.RLock()
        self._by_token = {}          # token -> {"callback", "entries": [...]}
        self._token_of = {}          # callback -> token
        self._pending_subs = False   # some entry not yet registered
        self._control_topic = None   # the filter printer control is subscribed to
        # Callbacks run on one dispatcher thread, in delivery order.
        self._calls = collections.deque()
        self._calls_max = 1000
        self._calls_cond = threading.Condition()
        self._dispatcher = None
        self._local = threading.local()

    # ~~ SettingsPlugin

    def get_settings_defaults(self):
        return dict(
            url=DEFAULT_URL,          # octomqttd's http.listen
            token=None,               # octomqttd's http.token
            timeout=5,                # seconds per request to octomqttd
            queue_size=1000,          # requests waiting to be sent at most
            webhook_url=None,         # default http://127.0.0.1:<port>/plugin/mqtt/
            printerData=False,        # add printer_data to progress messages
            presence=True,            # heartbeat POST /presence (publish.lwHostTimeout)
            status_interval=5,        # seconds between GET /status
            startup_wait=2,           # seconds on_startup waits for the first /status
            control=dict(enabled=False, gcode=False),
            # Served from octomqttd's GET /status (an overlay replaces
            # these as soon as it answers): what other plugins read.
            publish=dict(PUBLISH_DEFAULTS),
            timestamp_fieldname="_timestamp",
        )

    # ~~ settings access

    def _setting(self, path, default=None):
        if isinstance(path, str):
            path = [path]
        try:
            value = self._settings.get(path)
        except Exception:
            value = None
        return default if value is None else value

    def _client(self):
        """This thread's DaemonClient."""
        c = getattr(self._local, "client", None)
        key = (self._setting("url", DEFAULT_URL), self._setting("token"),
               float(self._setting("timeout", 5)))
        if c is None or getattr(self._local, "key", None) != key:
            if c is not None:
                c.close()
            c = DaemonClient(*key)
            self._local.client = c
            self._local.key = key
        return c

    def _base_topic(self):
        status = self._status
        if status is not None:
            return status.get("baseTopic", "")
        return self._setting(["publish", "baseTopic"], PUBLISH_DEFAULTS["baseTopic"])

    # ~~ StartupPlugin / ShutdownPlugin

    def on_startup(self, host, port):
        self._port = port
        self._queue_size = max(1, int(self._setting("queue_size", 1000)))
        self._stopping = False
        self._stop_evt.clear()
        self._sender = threading.Thread(target=self._send_loop, name="octomqttd-sender",
                                        daemon=True)
        self._dispatcher = threading.Thread(target=self._dispatch_loop,
                                            name="octomqttd-callbacks", daemon=True)
        self._monitor = threading.Thread(target=self._monitor_loop, name="octomqttd-monitor",
                                         daemon=True)
        self._sender.start()
        self._dispatcher.start()
        self._monitor.start()
        # Other plugins read plugins.mqtt.publish.* in their
        # on_after_startup, which comes after every on_startup: give the
        # daemon a moment to tell its topics first.
        if not self._first_status.wait(float(self._setting("startup_wait", 2))):
            self._logger.warning("octomqttd did not answer GET /status within %s s: "
                                 "plugins.mqtt.publish.* hold the defaults until it does",
                                 self._setting("startup_wait", 2))
        self._enqueue_remove_stale()

    def on_after_startup(self):
        # Like OctoPrint-MQTT on its first connection: empty progress.
        self.on_print_progress("", "", 0)
        self.on_slicing_progress("", "", "", "", "", 0)
        self._control_sync()

    def on_shutdown(self):
        """Goodbye to the daemon (DELETE /presence), our webhooks removed;
        each request bounded by the timeout setting."""
        with self._subs_lock:
            urls = [self._webhook_url(t) for t in self._by_token]
            self._by_token.clear()
            self._token_of.clear()
        self.stop(flush_seconds=2)
        client = DaemonClient(self._setting("url", DEFAULT_URL), self._setting("token"),
                              min(2.0, float(self._setting("timeout", 5))))
        try:
            if self._setting("presence", True) and not self._presence_off:
                client.request("DELETE", "/presence")
            for url in urls:
                client.request("DELETE", "/subscriptions?" +
                               urllib.parse.urlencode({"url": url}))
        except OSError as e:
            self._logger.info("octomqttd not told of the shutdown: %s", e)
        finally:
            client.close()

    def stop(self, flush_seconds=0):
        """Stop the threads; wait up to flush_seconds for the queue to drain."""
        end = time.monotonic() + flush_seconds
        with self._cond:
            while self._queue and time.monotonic() < end:
                self._cond.wait(0.05)
            self._stopping = True
            self._cond.notify_all()
        self._stop_evt.set()
        with self._calls_cond:
            self._calls_cond.notify_all()
        for t in (self._sender, self._dispatcher, self._monitor):
            if t is not None and t is not threading.current_thread():
                t.join(float(self._setting("timeout", 5)) + 1)

    # ~~ the send queue (callers only append)

    def _enqueue(self, item):
        """Append; False if the queue is full and item is not a forward."""
        with self._cond:
            if self._stopping:
                return False
            if len(self._queue) >= self._queue_size:
                victim = None
                if item.kind == "forward":
                    # The oldest forward goes: the latest state is worth
                    # more than a stale one. Accepted helper calls stay.
                    for i, old in enumerate(self._queue):
                        if old.kind == "forward":
                            victim = i
                            break
                if victim is None:
                    self._warn_once(("queue", "full"), "octomqttd send queue full (%d): %s "
                                    "refused" % (self._queue_size, item.path))
                    if item.kind == "forward":
                        self._dropped += 1
                    return False
                del self._queue[victim]
                self._dropped += 1
                if self._dropped == 1 or self._dropped % 1000 == 0:
                    self._logger.warning("octomqttd send queue full (%d): dropped the oldest "
                                         "forwarded item, %d so far", self._queue_size,
                                         self._dropped)
            self._queue.append(item)
            self._cond.notify_all()
            return True

    def _send_loop(self):
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    # Wake now and then to retry pending subscriptions.
                    self._cond.wait(1 if self._pending_subs else None)
                    if self._pending_subs:
                        break
                if self._stopping:
                    return
                item = self._queue.popleft() if self._queue else None
                self._cond.notify_all()
            if item is None:
                self._register_pending()
                continue
            if not self._send(item):
                # Not sent and worth another try (the daemon is away):
                # back to the head, try again in a second.
                with self._cond:
                    self._queue.appendleft(item)
                    self._cond.wait(1)

    def _send(self, item):
        """One request; False when it was not sent and should be retried."""
        try:
            status, answer = self._client().request(item.method, item.path, item.body)
        except NotSent as e:
            self._note_down(e)
            if item.kind == "subscribe":
                self._sub_pending(item)
                return True
            return not item.retry
        except MaybeSent as e:
            # Never again: it may have been published already.
            self._forget_state()
            self._warn_once(("lost", item.kind), "%s (not sent again)" % e)
            if item.kind == "subscribe":
                self._sub_pending(item)
            return True
        self._note_up()
        self._note_answer(item, status, answer)
        if item.kind == "subscribe":
            self._sub_answer(item, status, answer)
        return True

    def _note_answer(self, item, status, answer):
        """Broker state from an answer; a warning per cause of refusals."""
        route = "/" + item.path.lstrip("/").split("/")[0].split("?")[0]
        error = answer.get("error") if isinstance(answer, dict) else None
        if 200 <= status < 300:
            self._sent += 1
            if item.kind == "publish" and isinstance(answer, dict) and \
                    answer.get("accepted") is True and not item.body.get("allow_queueing"):
                self._set_broker(True)
            # The causes of this route may be warned about again.
            self._warned = {w for w in self._warned if w[0] != route}
            return
        if error in ("not_connected",):
            self._set_broker(False)
        if item.kind == "unsubscribe" and status == 404:
            return
        self._warn_once((route, status, error),
                        "octomqttd refused %s %s: %d %s (%s); further refusals of this kind "
                        "are not logged until one succeeds" %
                        (item.method, item.path.split("?")[0], status, error or "",
                         answer.get("message", "") if isinstance(answer, dict) else answer))

    def _warn_once(self, cause, text):
        if cause not in self._warned:
            self._warned.add(cause)
            self._logger.warning(text)

    def _note_down(self, e):
        """Log the first failure of a series only."""
        self._forget_state()
        if not self._down:
            self._down = True
            self._logger.warning("%s; forwarding goes on, what cannot be delivered is "
                                 "dropped", e)

    def _note_up(self):
        if self._down:
            self._down = False
            self._logger.info("octomqttd is reachable again")

    def _set_broker(self, connected):
        self._broker = connected
        self._state_at = time.monotonic()

    def _forget_state(self):
        self._broker = None

    def _broker_connected(self):
        """True / False from the daemon's last word, None if it is stale."""
        if self._broker is None:
            return None
        fresh = 2 * float(self._setting("status_interval", 5)) + \
            float(self._setting("timeout", 5))
        if time.monotonic() - self._state_at > fresh:
            return None
        return self._broker

    # ~~ the monitor: GET /status, POST /presence

    def _monitor_loop(self):
        while True:
            interval = float(self._setting("status_interval", 5))
            try:
                self._poll_status()
                interval = self._beat(interval)
            except Exception:
                self._logger.exception("octomqttd monitor")
            self._first_status.set()
            if self._stop_evt.wait(max(0.2, interval)):
                return

    def _poll_status(self):
        try:
            status, answer = self._client().request("GET", "/status")
        except NotSent as e:
            self._note_down(e)
            return
        except MaybeSent as e:
            self._forget_state()
            self._warn_once(("status", "lost"), str(e))
            return
        self._note_up()
        if status != 200 or not isinstance(answer, dict):
            self._warn_once(("/status", status, None),
                            "octomqttd answered GET /status with %d: %r" % (status, answer))
            return
        self._warned.discard(("status", "lost"))
        self._set_broker(answer.get("connected") is True)
        pub = answer.get("publish")
        if isinstance(pub, dict):
            self._status = pub
            self._serve_settings(pub)

    def _beat(self, interval):
        """POST /presence when the daemon wants it; returns the next wait."""
        timeout = int((self._status or {}).get("lwHostTimeout") or 0)
        if timeout <= 0 or not self._setting("presence", True):
            return interval
        try:
            status, answer = self._client().request("POST", "/presence")
        except OSError as e:
            self._warn_once(("presence", "lost"), "POST /presence: %s" % e)
            return 1.0
        self._warned.discard(("presence", "lost"))
        if status == 409:
            if not self._presence_off:
                self._logger.info("octomqttd has presence off (publish.lwHostTimeout = 0)")
            self._presence_off = True
        elif status != 204:
            self._warn_once(("/presence", status, None),
                            "octomqttd answered POST /presence with %d: %r" % (status, answer))
        else:
            self._presence_off = False
        # Three beats per timeout: one lost beat does not flap the status.
        return min(interval, max(0.5, timeout / 3.0))

    def _serve_settings(self, pub):
        """plugins.mqtt.publish.* (and timestamp_fieldname) = the daemon's values."""
        values = {k: pub[k] for k in PUBLISH_KEYS if k in pub}
        ts_field = pub.get("timestamp_fieldname")
        served = (values, ts_field)
        if served == self._served:
            return
        overlay = {"publish": dict(values)}
        if ts_field:
            overlay["timestamp_fieldname"] = ts_field
        # config.yaml beats any overlay: values left there by OctoPrint-MQTT
        # that disagree with the daemon would hide its real topics.
        removed = []
        paths = [(["publish", k], v) for k, v in values.items()]
        if ts_field:
            paths.append((["timestamp_fieldname"], ts_field))
        for path, value in paths:
            try:
                local = self._settings.get(path, incl_defaults=False)
            except Exception:
                local = None
            if local is not None and local != value:
                self._settings.remove(path)
                removed.append("%s (was %r, octomqttd has %r)" % (".".join(path), local, value))
        if removed:
            self._logger.warning("removed from config.yaml, octomqttd's values are served "
                                 "instead: plugins.mqtt.%s", "; plugins.mqtt.".join(removed))
            try:
                self._settings.save()
            except Exception:
                self._logger.exception("could not save config.yaml")
        try:
            self._settings.remove_overlay(OVERLAY_KEY)
        except Exception:
            pass
        self._settings.add_overlay(overlay, key=OVERLAY_KEY)
        if self._served is not None and self._served[0].get("baseTopic") != \
                values.get("baseTopic"):
            self._control_sync()
        self._served = served

    # ~~ EventHandlerPlugin

    def on_event(self, event, payload):
        # OctoPrint-MQTT also reset or completed the progress on these.
        if isinstance(payload, dict):
            if event in ("PrintStarted", "FileSelected"):
                self.on_print_progress(payload.get("origin"), payload.get("path"), 0)
            elif event == "PrintDone":
                self.on_print_progress(payload.get("origin"), payload.get("path"), 100)
        if event == "FileDeselected":
            self.on_print_progress("", "", 0)
        if not isinstance(event, str) or not EVENT_NAME.match(event):
            self._logger.debug("event name %r cannot be forwarded to octomqttd", event)
            return
        try:
            body = json.loads(to_json(dict(payload) if payload else {}))
        except (TypeError, ValueError):
            body = {}
        self._forward("/events/" + event, body)

    def _forward(self, path, body):
        self._enqueue(Item("forward", "POST", path, body, False, None))

    # ~~ ProgressPlugin

    def on_print_progress(self, storage, path, progress):
        body = {"location": storage, "path": path, "progress": progress}
        if self._setting("printerData", False) and getattr(self, "_printer", None):
            try:
                body["printer_data"] = json.loads(to_json(self._printer.get_current_data()))
            except Exception:
                self._logger.debug("no printer data", exc_info=True)
        self._forward("/progress/printing", body)

    def on_slicing_progress(self, slicer, source_location, source_path,
                            destination_location, destination_path, progress):
        self._forward("/progress/slicing", {
            "slicer": slicer, "source_location": source_location,
            "source_path": source_path, "destination_location": destination_location,
            "destination_path": destination_path, "progress": progress})

    # ~~ hooks

    def on_temperatures_received(self, comm, parsed_temperatures, *args, **kwargs):
        """octoprint.comm.protocol.temperatures.received: forward, change nothing."""
        try:
            body = {"time": int(time.time())}
            for key, value in (parsed_temperatures or {}).items():
                actual, target = (tuple(value) + (None, None))[:2]
                body[sensor_name(key)] = {"actual": actual, "target": target}
            self._forward("/temperature", body)
        except Exception:
            self._logger.debug("temperatures not forwarded", exc_info=True)
        return parsed_temperatures

    def on_gcode_received(self, comm, line, *args, **kwargs):
        """octoprint.comm.protocol.gcode.received: Marlin's 'paused for user'."""
        if isinstance(line, str) and line.startswith("echo:busy: paused for user"):
            self._forward("/events/PausedForUser", {})
        return line

    # ~~ helpers (OctoPrint-MQTT's signatures; they never wait for octomqttd)

    def mqtt_publish(self, topic, payload, retained=False, qos=0, allow_queueing=False,
                     raw_data=False):
        """True: handed to the sender, which sends it once (the daemon is
        connected to the broker as far as the plugin knows, or
        allow_queueing). False: refused now (not known to be connected and
        no queueing, or the send queue is full)."""
        body = publish_body(topic, payload, retained, qos, allow_queueing, raw_data)
        return self._publish(body)

    def mqtt_publish_with_timestamp(self, topic, payload, retained=False, qos=0,
                                    allow_queueing=False, timestamp=None):
        """mqtt_publish of a dict with the timestamp member added."""
        if not payload:
            payload = {}
        if not isinstance(payload, dict):
            raise ValueError("payload must be a dict")
        body = publish_body(topic, payload, retained, qos, allow_queueing)
        if timestamp is None:
            body["timestamp"] = True   # the daemon adds int(now)
        else:
            field = (self._status or {}).get("timestamp_fieldname") or \
                self._setting("timestamp_fieldname", "_timestamp")
            body["payload"][field] = int(timestamp)
        return self._publish(body)

    def _publish(self, body):
        if not body["allow_queueing"] and self._broker_connected() is not True:
            self._logger.debug("publish to %s refused: octomqttd %s", body["topic"],
                               "is not connected to the broker" if self._broker is False
                               else "has not said it is connected")
            return False
        return self._enqueue(Item("publish", "POST", "/publish", body,
                                  body["allow_queueing"], None))

    def mqtt_subscribe(self, topic, callback, args=None, kwargs=None):
        args = list(args) if args is not None else []
        kwargs = dict(kwargs) if kwargs is not None else {}
        with self._subs_lock:
            token = self._token_of.get(callback)
            if token is None:
                token = secrets.token_urlsafe(18)
                self._token_of[callback] = token
                self._by_token[token] = {"callback": callback, "entries": []}
            entry = {"topic": topic, "args": args, "kwargs": kwargs, "id": None}
            self._by_token[token]["entries"].append(entry)
        self._enqueue(self._sub_item(token, entry))

    def mqtt_unsubscribe(self, callback, topic=None):
        with self._subs_lock:
            token = self._token_of.get(callback)
            if token is None:
                return
            rec = self._by_token[token]
            rec["entries"] = [e for e in rec["entries"]
                              if topic is not None and e["topic"] != topic]
            if not rec["entries"]:
                del self._by_token[token]
                del self._token_of[callback]
        query = {"url": self._webhook_url(token)}
        if topic is not None:
            query["topic"] = topic
        # The route stops calling back at once; the daemon forgets the
        # webhook when the request goes out (an unknown token gets 404,
        # which it does not retry, and the next start removes it).
        self._enqueue(Item("unsubscribe", "DELETE",
                           "/subscriptions?" + urllib.parse.urlencode(query), None, True, None))

    # ~~ subscriptions as webhooks

    def _webhook_base(self):
        base = self._setting("webhook_url")
        if not base:
            base = "http://127.0.0.1:%d/plugin/%s/" % (int(self._port or 5000),
                                                        getattr(self, "_identifier", "mqtt"))
        if not base.endswith("/"):
            base += "/"
        return base + WEBHOOK_PREFIX

    def _webhook_url(self, token):
        return self._webhook_base() + token

    @staticmethod
    def _json_safe(value):
        return json.loads(to_json(value))

    def _sub_item(self, token, entry):
        body = {"topic": entry["topic"], "url": self._webhook_url(token),
                "args": self._json_safe(entry["args"]),
                "kwargs": self._json_safe(entry["kwargs"])}
        return Item("subscribe", "POST", "/subscriptions", body, True, (token, entry))

    def _sub_pending(self, item):
        if not self._pending_subs:
            self._logger.info("subscription to %s pending until octomqttd answers",
                              item.body["topic"])
        self._pending_subs = True

    def _sub_answer(self, item, status, answer):
        token, entry = item.extra
        if status in (200, 201) and isinstance(answer, dict):
            with self._subs_lock:
                entry["id"] = answer.get("id")
            return
        # Refused for good (bad filter, URL not allowed): not retried.
        self._logger.error("octomqttd refused the subscription to %s: %d %r",
                           entry["topic"], status, answer)
        entry["id"] = ""

    def _register_pending(self):
        """The sender thread: register what waits, in order."""
        with self._subs_lock:
            todo = [(t, e) for t, rec in self._by_token.items()
                    for e in rec["entries"] if e["id"] is None]
        for token, entry in todo:
            self._send(self._sub_item(token, entry))
            if entry["id"] is None:
                return   # still away: _pending_subs stays set
        self._pending_subs = False

    def _enqueue_remove_stale(self):
        """Webhooks left by an earlier run point at tokens nobody knows."""
        threading.Thread(target=self._remove_stale_webhooks, name="octomqttd-cleanup",
                         daemon=True).start()

    def _remove_stale_webhooks(self):
        prefix = self._webhook_base()
        try:
            status, answer = self._client().request("GET", "/subscriptions")
        except OSError as e:
            self._logger.info("stale webhooks not looked for: %s", e)
            return
        if status != 200 or not isinstance(answer, dict):
            return
        with self._subs_lock:
            mine = {self._webhook_url(t) for t in self._by_token}
        stale = {s.get("url") for s in answer.get("subscriptions", [])
                 if isinstance(s, dict) and str(s.get("url", "")).startswith(prefix)} - mine
        for url in stale:
            self._enqueue(Item("unsubscribe", "DELETE", "/subscriptions?" +
                               urllib.parse.urlencode({"url": url}), None, True, None))
        if stale:
            self._logger.info("removing %d webhook(s) of an earlier run", len(stale))

    def handle_webhook(self, token, data, subscription_id=None):
        """One delivery of octomqttd (DESIGN section 6 body); returns the HTTP status."""
        with self._subs_lock:
            rec = self._by_token.get(token)
            if rec is None:
                return 404   # final for octomqttd: no retries
            try:
                msg = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
                topic = msg["topic"]
                if msg.get("payload") is None and "payload_base64" in msg:
                    payload = Payload(base64.b64decode(msg["payload_base64"]))
                else:
                    text = msg.get("payload")
                    payload = Payload(text.encode("utf-8") if isinstance(text, str) else b"")
                retained = bool(msg.get("retained", False))
                qos = int(msg.get("qos", 0))
            except (ValueError, KeyError, TypeError, AttributeError):
                return 400
            entries = [e for e in rec["entries"] if subscription_id and e["id"] == subscription_id]
            if not entries:
                entries = [e for e in rec["entries"] if topic_matches(e["topic"], topic)]
            calls = [(rec["callback"], topic, payload, e["args"], e["kwargs"], retained, qos)
                     for e in entries]
        with self._calls_cond:
            if len(self._calls) >= self._calls_max:
                return 503   # octomqttd retries later
            self._calls.extend(calls)
            self._calls_cond.notify()
        return 204

    def _dispatch_loop(self):
        while True:
            with self._calls_cond:
                while not self._calls and not self._stopping:
                    self._calls_cond.wait()
                if self._stopping:
                    return
                callback, topic, payload, args, kwargs, retained, qos = self._calls.popleft()
            call_kwargs = dict(kwargs)
            call_kwargs.update(retained=retained, qos=qos)
            try:
                callback(topic, payload, *args, **call_kwargs)
            except Exception:
                self._logger.exception("Error while calling mqtt callback")

    # ~~ printer control over MQTT (plugins.mqtt.control, off by default)

    def _control_sync(self):
        """Subscribe <baseTopic>control/+ when enabled (again if baseTopic changed)."""
        if not self._setting(["control", "enabled"], False):
            return
        topic = self._base_topic() + "control/+"
        if topic == self._control_topic:
            return
        if self._control_topic is not None:
            self.mqtt_unsubscribe(self._on_control, self._control_topic)
        self._control_topic = topic
        self.mqtt_subscribe(topic, self._on_control)
        self._logger.info("printer control over MQTT on %s", topic)

    def _on_control(self, topic, payload, retained=False, qos=0, **kwargs):
        command = topic.rsplit("/", 1)[-1]
        if command == "result":
            return   # our own answers
        try:
            error = self._control(command, payload, retained)
        except Exception as e:
            self._logger.exception("control command %s failed", command)
            error = "%s: %s" % (type(e).__name__, e)
        result = {"command": command, "ok": error is None, "error": error}
        if error is not None:
            self._logger.warning("control command %s refused: %s", command, error)
        self.mqtt_publish(self._base_topic() + "control/result", result, allow_queueing=True)

    def _control(self, command, payload, retained):
        """Run one command; None, or why it was not run."""
        if command not in CONTROL_COMMANDS:
            return "unknown command (one of %s)" % ", ".join(CONTROL_COMMANDS)
        if retained:
            return "retained message ignored: commands must not be retained"
        printer = getattr(self, "_printer", None)
        if printer is None:
            return "no printer"
        text = bytes(payload).decode("utf-8", "replace").strip()
        if command == "gcode":
            if not self._setting(["control", "gcode"], False):
                return "gcode is off (plugins.mqtt.control.gcode)"
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if not lines:
                return "empty gcode"
            if not printer.is_operational():
                return "printer not operational"
            printer.commands(lines)
            return None
        args = None
        if text:
            try:
                args = json.loads(text)
            except ValueError:
                return "payload is not JSON"
        if command == "connect":
            if args is not None and not isinstance(args, dict):
                return "connect takes an object {\"port\", \"baudrate\", \"profile\"}"
            args = args or {}
            unknown = set(args) - {"port", "baudrate", "profile"}
            if unknown:
                return "unknown member(s): " + ", ".join(sorted(unknown))
            if not printer.is_closed_or_error():
                return "already connected"
            printer.connect(port=args.get("port"), baudrate=args.get("baudrate"),
                            profile=args.get("profile"))
            return None
        if command == "home":
            axes = args if args is not None else ["x", "y", "z"]
            if not isinstance(axes, list) or not axes or \
                    any(a not in ("x", "y", "z") for a in axes):
                return "home takes a list of axes from \"x\", \"y\", \"z\""
            if not printer.is_operational() or printer.is_printing():
                return "printer not ready"
            printer.home(axes)
            return None
        if args is not None:
            return "%s takes no payload" % command
        if command == "disconnect":
            if printer.is_closed_or_error():
                return "not connected"
            printer.disconnect()
        elif command == "pause":
            if not printer.is_printing():
                return "not printing"
            printer.pause_print()
        elif command == "resume":
            if not printer.is_paused():
                return "not paused"
            printer.resume_print()
        elif command == "cancel":
            if not (printer.is_printing() or printer.is_paused()):
                return "no print job running"
            printer.cancel_print()
        return None

    # ~~ BlueprintPlugin

    @octoprint.plugin.BlueprintPlugin.route("/webhook/<token>", methods=["POST"])
    @octoprint.plugin.BlueprintPlugin.csrf_exempt()
    def webhook(self, token):
        status = self.handle_webhook(token, flask.request.get_data(),
                                     flask.request.headers.get("X-Octomqttd-Subscription"))
        return "", status

    def is_blueprint_protected(self):
        # octomqttd has no OctoPrint API key; the unguessable token in the
        # URL is the credential.
        return False

    def is_blueprint_csrf_protected(self):
        return True


__plugin_name__ = "MQTT (octomqttd)"
__plugin_version__ = __version__
__plugin_description__ = "OctoPrint-MQTT's events and helpers, served by octomqttd"
__plugin_pythoncompat__ = ">=3.7,<4"


def __plugin_load__():
    global __plugin_implementation__, __plugin_helpers__, __plugin_hooks__
    plugin = OctomqttdPlugin()
    __plugin_implementation__ = plugin
    __plugin_helpers__ = {
        "mqtt_publish": plugin.mqtt_publish,
        "mqtt_publish_with_timestamp": plugin.mqtt_publish_with_timestamp,
        "mqtt_subscribe": plugin.mqtt_subscribe,
        "mqtt_unsubscribe": plugin.mqtt_unsubscribe,
    }
    __plugin_hooks__ = {
        "octoprint.comm.protocol.temperatures.received": plugin.on_temperatures_received,
        "octoprint.comm.protocol.gcode.received": plugin.on_gcode_received,
    }
