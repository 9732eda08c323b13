"""OctoPrint plugin "mqtt" backed by octomqttd.

A thin stand-in for the OctoPrint-MQTT plugin: it registers under the same
plugin identifier ("mqtt") and offers the same helpers, but it speaks no
MQTT itself. Events, progress and temperatures are handed to octomqttd's
HTTP API (doc/octoprint.md, DESIGN section 5); subscriptions become
octomqttd webhooks that point at a route this plugin serves inside
OctoPrint.

Only the standard library is used (plus flask, which OctoPrint ships).
"""

import base64
import collections
import http.client
import json
import re
import secrets
import threading
import time
import urllib.parse

import flask
import octoprint.plugin

__version__ = "0.1.0"

DEFAULT_URL = "http://127.0.0.1:5883"
WEBHOOK_PREFIX = "webhook/"
EVENT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")

# OctoPrint's temperature hook names heaters T0, T1, B, C; its printer
# callbacks (and so the OctoPrint-MQTT topics) call them tool0, tool1, bed,
# chamber. Other sensor names are kept as they are.
_TOOL = re.compile(r"^T(\d+)$")


def sensor_name(key):
    m = _TOOL.match(key)
    if m:
        return "tool" + m.group(1)
    return {"B": "bed", "C": "chamber"}.get(key, key)


def _json_default(obj):
    """JSON for what OctoPrint puts in payloads beyond plain types."""
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).decode("utf-8", "replace")
    return str(obj)


def to_json(value):
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def publish_body(topic, payload, retained, qos, allow_queueing):
    """The POST /publish body for a helper call (payload rules of §5)."""
    body = {"topic": topic, "retained": bool(retained), "qos": int(qos),
            "allow_queueing": bool(allow_queueing)}
    if isinstance(payload, (bytes, bytearray, memoryview)):
        body["payload_base64"] = base64.b64encode(bytes(payload)).decode("ascii")
    elif isinstance(payload, str):
        body["payload"] = payload
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


class DaemonClient:
    """Blocking JSON requests to octomqttd. One instance per thread."""

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

    def request(self, method, path, body=None):
        """(status, decoded JSON or None); raises OSError when unreachable."""
        data = None if body is None else to_json(body).encode("utf-8")
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        # A kept-alive connection the daemon closed meanwhile fails on
        # first use; one fresh attempt follows.
        for attempt in (0, 1):
            if self.conn is None:
                cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self.conn = cls(self.host, self.port, timeout=self.timeout)
            reused = attempt == 0 and self.conn.sock is not None
            try:
                self.conn.request(method, self.base + path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if reused:
                    continue
                raise OSError("octomqttd at %s:%d unreachable" % (self.host, self.port))
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            try:
                answer = json.loads(raw.decode("utf-8")) if raw else None
            except ValueError:
                answer = None
            return resp.status, answer
        raise OSError("unreachable")  # not reached


class OctomqttdPlugin(octoprint.plugin.SettingsPlugin,
                      octoprint.plugin.StartupPlugin,
                      octoprint.plugin.ShutdownPlugin,
                      octoprint.plugin.EventHandlerPlugin,
                      octoprint.plugin.ProgressPlugin,
                      octoprint.plugin.BlueprintPlugin):

    def __init__(self):
        self._port = None
        # Forwarding: bounded queue, one sender thread. When full, the
        # OLDEST entry is dropped: fresh state (progress, temperature,
        # the latest event) is worth more than stale state.
        self._cond = threading.Condition()
        self._queue = collections.deque()
        self._queue_size = 1000
        self._dropped = 0
        self._sender = None
        self._stopping = False
        self._down = False           # last forward attempt failed
        self._sent = 0
        # Subscriptions: one webhook URL (token) per callback.
        self._subs_lock = threading.RLock()
        self._by_token = {}          # token -> {"callback", "entries": [...]}
        self._token_of = {}          # callback -> token
        self._pending_subs = False   # some entry not yet registered
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
            queue_size=1000,          # forwarded items waiting at most
            webhook_url=None,         # default http://127.0.0.1:<port>/plugin/mqtt/
            timestamp_fieldname="_timestamp",  # = publish.timestamp_fieldname
            printerData=False,        # add printer_data to progress messages
        )

    # ~~ settings access

    def _setting(self, key, default=None):
        try:
            value = self._settings.get([key])
        except Exception:
            value = None
        return default if value is None else value

    def _client(self):
        """This thread's DaemonClient (helpers run on OctoPrint's threads)."""
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

    # ~~ StartupPlugin / ShutdownPlugin

    def on_startup(self, host, port):
        self._port = port
        self._queue_size = max(1, int(self._setting("queue_size", 1000)))
        self._stopping = False
        self._sender = threading.Thread(target=self._send_loop, name="octomqttd-sender",
                                        daemon=True)
        self._sender.start()
        self._dispatcher = threading.Thread(target=self._dispatch_loop,
                                            name="octomqttd-callbacks", daemon=True)
        self._dispatcher.start()
        # Webhooks left by an earlier run point at tokens nobody knows.
        self._remove_stale_webhooks()

    def on_after_startup(self):
        # Like OctoPrint-MQTT on its first connection: empty progress.
        self.on_print_progress("", "", 0)
        self.on_slicing_progress("", "", "", "", "", 0)

    def on_shutdown(self):
        with self._subs_lock:
            urls = [self._webhook_url(t) for t in self._by_token]
            self._by_token.clear()
            self._token_of.clear()
        for url in urls:
            try:
                self._client().request("DELETE", "/subscriptions?" +
                                       urllib.parse.urlencode({"url": url}))
            except OSError:
                break
        self.stop(flush_seconds=2)

    def stop(self, flush_seconds=0):
        """Stop the threads; wait up to flush_seconds for the queue to drain."""
        end = time.monotonic() + flush_seconds
        with self._cond:
            while self._queue and time.monotonic() < end:
                self._cond.wait(0.05)
            self._stopping = True
            self._cond.notify_all()
        with self._calls_cond:
            self._calls_cond.notify_all()
        for t in (self._sender, self._dispatcher):
            if t is not None:
                t.join(5)

    # ~~ forwarding (never blocks the caller)

    def _enqueue(self, path, body):
        with self._cond:
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self._dropped += 1
                if self._dropped == 1 or self._dropped % 1000 == 0:
                    self._logger.warning("octomqttd forwarding queue full (%d): dropped "
                                         "the oldest, %d so far", self._queue_size,
                                         self._dropped)
            self._queue.append((path, body))
            self._cond.notify()

    def _send_loop(self):
        last_retry = 0.0
        while True:
            with self._cond:
                if not self._queue and not self._stopping:
                    # Wake now and then to retry pending subscriptions.
                    self._cond.wait(5 if self._pending_subs else None)
                if self._stopping:
                    return
                item = self._queue.popleft() if self._queue else None
                self._cond.notify_all()
            if self._pending_subs and time.monotonic() - last_retry >= 5:
                last_retry = time.monotonic()
                self._register_pending()
            if item is not None:
                self._forward(*item)

    def _forward(self, path, body):
        try:
            status, answer = self._client().request("POST", path, body)
        except OSError as e:
            self._note_down(e)
            return
        self._note_up()
        if status >= 300:
            self._logger.debug("octomqttd answered %d to POST %s: %r", status, path, answer)
        else:
            self._sent += 1

    def _note_down(self, e):
        """Log the first failure of a series only."""
        if not self._down:
            self._down = True
            self._logger.warning("octomqttd is unreachable (%s); forwarding goes on, "
                                 "what cannot be delivered is dropped", e)

    def _note_up(self):
        if self._down:
            self._down = False
            self._logger.info("octomqttd is reachable again")

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
        self._enqueue("/events/" + event, body)

    # ~~ ProgressPlugin

    def on_print_progress(self, storage, path, progress):
        body = {"location": storage, "path": path, "progress": progress}
        if self._setting("printerData", False) and getattr(self, "_printer", None):
            try:
                body["printer_data"] = json.loads(to_json(self._printer.get_current_data()))
            except Exception:
                self._logger.debug("no printer data", exc_info=True)
        self._enqueue("/progress/printing", body)

    def on_slicing_progress(self, slicer, source_location, source_path,
                            destination_location, destination_path, progress):
        self._enqueue("/progress/slicing", {
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
            self._enqueue("/temperature", body)
        except Exception:
            self._logger.debug("temperatures not forwarded", exc_info=True)
        return parsed_temperatures

    def on_gcode_received(self, comm, line, *args, **kwargs):
        """octoprint.comm.protocol.gcode.received: Marlin's 'paused for user'."""
        if isinstance(line, str) and line.startswith("echo:busy: paused for user"):
            self._enqueue("/events/PausedForUser", {})
        return line

    # ~~ helpers (the OctoPrint-MQTT signatures and return values)

    def mqtt_publish(self, topic, payload, retained=False, qos=0, allow_queueing=False):
        """True if octomqttd accepted the message (sent or queued), else False."""
        body = publish_body(topic, payload, retained, qos, allow_queueing)
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
            body["payload"][self._setting("timestamp_fieldname", "_timestamp")] = int(timestamp)
        return self._publish(body)

    def _publish(self, body):
        try:
            status, answer = self._client().request("POST", "/publish", body)
        except OSError as e:
            self._logger.debug("publish to %s failed: %s", body.get("topic"), e)
            return False
        ok = 200 <= status < 300 and isinstance(answer, dict) and answer.get("accepted") is True
        if not ok:
            self._logger.debug("octomqttd refused %s: %d %r", body.get("topic"), status, answer)
        return ok

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
        if not self._register(token, entry):
            with self._cond:
                self._pending_subs = True
                self._cond.notify()

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
        try:
            self._client().request("DELETE", "/subscriptions?" + urllib.parse.urlencode(query))
        except OSError as e:
            # The webhook answers 404 for a token it no longer knows, and
            # the next start removes it.
            self._logger.warning("could not unsubscribe at octomqttd: %s", e)

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

    def _register(self, token, entry):
        body = {"topic": entry["topic"], "url": self._webhook_url(token),
                "args": self._json_safe(entry["args"]),
                "kwargs": self._json_safe(entry["kwargs"])}
        try:
            status, answer = self._client().request("POST", "/subscriptions", body)
        except OSError as e:
            self._logger.info("subscription to %s pending until octomqttd answers: %s",
                              entry["topic"], e)
            return False
        if status in (200, 201) and isinstance(answer, dict):
            with self._subs_lock:
                entry["id"] = answer.get("id")
            return True
        # Refused for good (bad filter, URL not allowed): not retried.
        self._logger.error("octomqttd refused the subscription to %s: %d %r",
                           entry["topic"], status, answer)
        entry["id"] = ""
        return True

    def _register_pending(self):
        with self._subs_lock:
            todo = [(t, e) for t, rec in self._by_token.items()
                    for e in rec["entries"] if e["id"] is None]
        left = False
        for token, entry in todo:
            if not self._register(token, entry):
                left = True
                break
        self._pending_subs = left

    def _remove_stale_webhooks(self):
        prefix = self._webhook_base()
        try:
            status, answer = self._client().request("GET", "/subscriptions")
        except OSError as e:
            self._note_down(e)
            return
        if status != 200 or not isinstance(answer, dict):
            return
        with self._subs_lock:
            mine = {self._webhook_url(t) for t in self._by_token}
        stale = {s.get("url") for s in answer.get("subscriptions", [])
                 if isinstance(s, dict) and str(s.get("url", "")).startswith(prefix)} - mine
        for url in stale:
            try:
                self._client().request("DELETE", "/subscriptions?" +
                                       urllib.parse.urlencode({"url": url}))
            except OSError:
                return
        if stale:
            self._logger.info("removed %d webhook(s) of an earlier run", len(stale))

    def handle_webhook(self, token, data, subscription_id=None):
        """One delivery of octomqttd (§6 body); returns the HTTP status."""
        with self._subs_lock:
            rec = self._by_token.get(token)
            if rec is None:
                return 404   # final for octomqttd: no retries
            try:
                msg = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
                topic = msg["topic"]
                if msg.get("payload") is None and "payload_base64" in msg:
                    payload = base64.b64decode(msg["payload_base64"])
                else:
                    payload = msg.get("payload")
                    if payload is None:
                        payload = ""
                retained = bool(msg.get("retained", False))
                qos = int(msg.get("qos", 0))
            except (ValueError, KeyError, TypeError):
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
