"""The octomqttd OctoPrint plugin (contrib/octoprint) under a stub OctoPrint.

Run by tests/integration/octoprint.sh, which starts mosquitto, two daemons
and a subscriber, and passes in the environment:
  LIVE_URL   octomqttd connected to the broker
  DEAD_URL   octomqttd whose broker is not there (never connected)
  CLOSED_URL a port nothing listens on
  SUB_FILE   mosquitto_sub -v output for octoprint/#
  BROKER_PORT
Every wait has a deadline; every failure is an AssertionError.
"""

import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import harness

LIVE = os.environ["LIVE_URL"]
DEAD = os.environ["DEAD_URL"]
CLOSED = os.environ["CLOSED_URL"]
SUB_FILE = os.environ["SUB_FILE"]
BROKER_PORT = os.environ["BROKER_PORT"]

PLUGIN = "octoprint_octomqttd"


def wait_until(what, cond, seconds=10):
    end = time.monotonic() + seconds
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def messages():
    """[(topic, payload text)] the subscriber has printed so far."""
    out = []
    with open(SUB_FILE, encoding="utf-8", errors="replace") as f:
        for line in f:
            topic, _, payload = line.rstrip("\n").partition(" ")
            out.append((topic, payload))
    return out


def message_on(topic, pred=lambda p: True, seconds=10):
    def find():
        for t, p in messages():
            if t == topic and pred(p):
                return p
        return None
    return wait_until("a message on " + topic, find, seconds)


def api(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def webhook_urls(base):
    status, answer = api(base, "GET", "/subscriptions")
    assert status == 200, (status, answer)
    return [s["url"] for s in answer["subscriptions"]]


class FakeDaemon:
    """Records what the plugin sends; answers like octomqttd would."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                outer.requests.append((self.path, dict(self.headers), body))
                if self.path == "/presence":
                    self.send_response(409)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/publish":
                    answer, code = {"accepted": True}, 200
                else:
                    answer, code = {"accepted": True, "topic": "t"}, 202
                data = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers), None))
                if self.path == "/status":
                    answer = {"connected": True, "publish": dict(baseTopic="octoprint/",
                                                                 lwHostTimeout=0)}
                else:
                    answer = {"subscriptions": []}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, path):
        return [b for p, h, b in self.requests if p == path]

    def posts(self):
        return [r for r in self.requests if r[0] not in ("/status", "/subscriptions")]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def octo(url, **mqtt):
    """A stub OctoPrint whose config.yaml sets plugins.mqtt.url (and more)."""
    mqtt["url"] = url
    return harness.OctoPrint({"plugins": {"mqtt": mqtt}})


def route_exists(path):
    """The live daemon serves PATH (a bad body: 400, not 404)."""
    req = urllib.request.Request(LIVE + path, data=b"[]", method="POST")
    try:
        urllib.request.urlopen(req, timeout=10).close()
        return True
    except urllib.error.HTTPError as e:
        return e.code != 404


def test_contract():
    """What goes over HTTP, byte for byte, against a fake daemon."""
    fake = FakeDaemon()
    op = octo(fake.url, token="s3cret")
    shim = op.load("mqtt", PLUGIN)
    op.startup()
    # on_after_startup: the empty progress OctoPrint-MQTT published first.
    wait_until("the start-up progress", lambda: fake.at("/progress/slicing"))
    assert fake.at("/progress/printing")[0] == {"location": "", "path": "", "progress": 0}
    assert fake.at("/progress/slicing")[0] == {
        "slicer": "", "source_location": "", "source_path": "", "destination_location": "",
        "destination_path": "", "progress": 0}

    shim.on_event("PrintStarted", {"origin": "local", "path": "a/b.gcode", "name": "b.gcode",
                                   "tags": {"x"}})
    shim.on_event("Startup", None)
    shim.on_event("bad name!", {})
    shim.on_print_progress("local", "a/b.gcode", 42)
    shim.on_slicing_progress("cura", "local", "a.stl", "local", "a.gco", 7)
    temps = {"T0": (200.5, 210.0), "B": (60.0, None), "C": (0.0, 0.0), "ext": (31.0, None)}
    hook = op.hook("mqtt", "octoprint.comm.protocol.temperatures.received")
    assert hook(None, temps) is temps
    gcode = op.hook("mqtt", "octoprint.comm.protocol.gcode.received")
    assert gcode(None, "echo:busy: paused for user") == "echo:busy: paused for user"
    assert gcode(None, "ok") == "ok"
    wait_until("the forwarded requests", lambda: fake.at("/events/PausedForUser"))

    for path, headers, body in fake.requests:
        assert headers.get("Authorization") == "Bearer s3cret", headers
    order = [p for p, _, _ in fake.posts()]
    started = fake.at("/events/PrintStarted")
    assert started == [{"origin": "local", "path": "a/b.gcode", "name": "b.gcode",
                        "tags": ["x"]}], started
    assert fake.at("/events/Startup") == [{}]
    assert not [p for p, _, _ in fake.requests if "bad" in p]
    prog = fake.at("/progress/printing")
    # PrintStarted resets the progress to 0 before the event, as before.
    assert prog[1:] == [{"location": "local", "path": "a/b.gcode", "progress": 0},
                        {"location": "local", "path": "a/b.gcode", "progress": 42}], prog
    assert fake.at("/progress/slicing")[1] == {
        "slicer": "cura", "source_location": "local", "source_path": "a.stl",
        "destination_location": "local", "destination_path": "a.gco", "progress": 7}
    (t,) = fake.at("/temperature")
    assert isinstance(t.pop("time"), int) and abs(time.time() - 0) > 0, t
    assert t == {"tool0": {"actual": 200.5, "target": 210.0},
                 "bed": {"actual": 60.0, "target": None},
                 "chamber": {"actual": 0.0, "target": 0.0},
                 "ext": {"actual": 31.0, "target": None}}, t
    assert order.index("/progress/printing") < order.index("/events/PrintStarted"), order

    # The helpers' bodies.
    del fake.requests[:]
    assert shim.mqtt_publish("a/t", "text") is True
    assert shim.mqtt_publish("a/t", b"\x00\xff", retained=True, qos=2,
                             allow_queueing=True) is True
    assert shim.mqtt_publish("a/t", {"k": [1, 2]}) is True
    assert shim.mqtt_publish("a/t", 5) is True
    assert shim.mqtt_publish_with_timestamp("a/t", {"v": 1}) is True
    assert shim.mqtt_publish_with_timestamp("a/t", None, timestamp=1234.9) is True
    try:
        shim.mqtt_publish_with_timestamp("a/t", "not a dict")
        raise AssertionError("no ValueError for a str payload")
    except ValueError:
        pass
    pubs = wait_until("the publishes", lambda: len(fake.at("/publish")) >= 6 and
                      fake.at("/publish"))
    base = {"topic": "a/t", "retained": False, "qos": 0, "allow_queueing": False}
    assert pubs == [
        dict(base, payload="text"),
        {"topic": "a/t", "retained": True, "qos": 2, "allow_queueing": True,
         "payload_base64": "AP8="},
        dict(base, payload={"k": [1, 2]}),
        dict(base, payload=5),
        dict(base, payload={"v": 1}, timestamp=True),
        dict(base, payload={"_timestamp": 1234}),
    ], pubs
    op.shutdown()
    fake.close()
    print("ok contract")


def test_live():
    """Against the real octomqttd and mosquitto."""
    # A webhook an earlier run of OctoPrint left behind.
    op = octo(LIVE)
    stale = "http://127.0.0.1:%d/plugin/mqtt/webhook/stale" % op.web.port
    status, _ = api(LIVE, "POST", "/subscriptions", {"topic": "x/stale", "url": stale})
    assert status == 201, status
    shim = op.load("mqtt", PLUGIN)
    echo = op.load("mqtt_test", "mqtt_test")
    op.startup()
    wait_until("the stale webhook removed", lambda: stale not in webhook_urls(LIVE))

    # Events: _event added, the payload kept.
    shim.on_event("PrintStarted", {"origin": "local", "path": "cube.gcode", "size": 1234})
    m = json.loads(message_on("octoprint/event/PrintStarted"))
    assert m["_event"] == "PrintStarted" and m["path"] == "cube.gcode" and m["size"] == 1234, m
    assert isinstance(m.get("_timestamp"), int), m
    shim.on_event("ClientOpened", None)
    m = json.loads(message_on("octoprint/event/ClientOpened"))
    assert m["_event"] == "ClientOpened", m

    # Progress and temperature, if this daemon has the routes yet.
    if route_exists("/progress/printing"):
        shim.on_print_progress("local", "cube.gcode", 33)
        p = json.loads(message_on("octoprint/progress/printing",
                                  lambda p: '"progress":33' in p.replace(" ", "")))
        assert p["path"] == "cube.gcode" and p["location"] == "local", p
        shim.on_slicing_progress("cura", "local", "a.stl", "local", "a.gco", 5)
        message_on("octoprint/progress/slicing", lambda p: '"slicer":"cura"' in p.replace(" ", ""))
        print("ok live progress")
    else:
        print("SKIP live progress: POST /progress/printing is 404 in this daemon "
              "(checked against the fake daemon only)")
    if route_exists("/temperature"):
        hook = op.hook("mqtt", "octoprint.comm.protocol.temperatures.received")
        hook(None, {"T0": (201.0, 210.0), "B": (0, 0)})
        t = json.loads(message_on("octoprint/temperature/tool0"))
        assert t["actual"] == 201.0 and t["target"] == 210.0, t
        print("ok live temperature")
    else:
        print("SKIP live temperature: POST /temperature is 404 in this daemon "
              "(checked against the fake daemon only)")

    # Helpers.
    assert shim.mqtt_publish("octoprint/t/text", "hello there") is True
    assert message_on("octoprint/t/text") == "hello there"
    assert shim.mqtt_publish("octoprint/t/json", {"a": 1}, qos=1) is True
    assert json.loads(message_on("octoprint/t/json")) == {"a": 1}
    assert shim.mqtt_publish_with_timestamp("octoprint/t/ts", {"b": 2}) is True
    m = json.loads(message_on("octoprint/t/ts"))
    assert m["b"] == 2 and abs(m["_timestamp"] - time.time()) < 60, m
    # Refused by the daemon after the helper returned: one warning per cause.
    import logging
    assert shim.mqtt_publish("bad/#", "x") is True
    assert shim.mqtt_publish("bad/+", "x") is True
    wait_until("the refusal warning",
               lambda: op.logs.count(logging.WARNING, "octomqttd refused POST /publish: 400"))
    assert shim.mqtt_publish("octoprint/t/after", "ok") is True
    message_on("octoprint/t/after")
    assert op.logs.count(logging.WARNING, "octomqttd refused POST /publish: 400") == 1, \
        op.logs.lines()

    # The example plugin: its start-up message, then the echo of a
    # message published by someone else, through the webhook.
    message_on("octoprint/plugin/mqtt_test/pub", lambda p: p == "test plugin startup")
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", BROKER_PORT, "-q", "1",
                    "-t", "octoprint/plugin/mqtt_test/sub", "-m", "ping 1"], check=True)
    message_on("octoprint/plugin/mqtt_test/pub", lambda p: p == "echo: ping 1")
    topic, message, retained, qos, args, kwargs = echo.received[0]
    assert (topic, message, retained, qos, args, kwargs) == \
        ("octoprint/plugin/mqtt_test/sub", b"ping 1", False, 1, (), {}), echo.received
    assert isinstance(message, bytes), type(message)

    # args and kwargs reach the callback as given; bytes stay bytes.
    got = []
    done = threading.Event()

    def cb(topic, payload, *args, **kwargs):
        got.append((topic, payload, args, kwargs))
        done.set()

    shim.mqtt_subscribe("octoprint/cb/+", cb, args=[1, "two"], kwargs={"k": "v"})
    wait_until("the subscription", lambda: len(webhook_urls(LIVE)) >= 2)
    # Not UTF-8: the callback gets bytes ("\udcff" is the byte 0xff in argv).
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", BROKER_PORT, "-q", "0",
                    "-t", "octoprint/cb/x", "-m", "\udcff"], check=True)
    assert done.wait(10), "callback not called"
    assert got[0][:3] == ("octoprint/cb/x", b"\xff", (1, "two")), got
    assert got[0][3] == {"k": "v", "retained": False, "qos": 0}, got
    # Unsubscribing removes the webhook.
    cb_urls = set(webhook_urls(LIVE))
    shim.mqtt_unsubscribe(cb)
    wait_until("the webhook removed", lambda: len(webhook_urls(LIVE)) == len(cb_urls) - 1)
    left = set(webhook_urls(LIVE))
    echo.unsubscribe("octoprint/plugin/mqtt_test/sub-other")
    shim.mqtt_unsubscribe(echo.on_message, topic="no/such/topic")
    # Sent in order: once this one is through, so are the two above.
    shim.mqtt_unsubscribe(echo.on_message, topic="octoprint/plugin/mqtt_test/sub")
    wait_until("all webhooks removed", lambda: webhook_urls(LIVE) == [])

    # A forged token is refused by the route.
    req = urllib.request.Request("http://127.0.0.1:%d/plugin/mqtt/webhook/forged" % op.web.port,
                                 data=b'{"topic":"a","payload":"b"}', method="POST")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("forged token accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 404, e.code
    op.shutdown()
    print("ok live")


def test_not_connected():
    """octomqttd up, broker never reached: refused unless queueing is allowed."""
    op = octo(DEAD)
    shim = op.load("mqtt", PLUGIN)
    op.startup()
    assert shim.mqtt_publish("octoprint/q", "x") is False
    assert shim.mqtt_publish("octoprint/q", "x", allow_queueing=True) is True
    assert shim.mqtt_publish_with_timestamp("octoprint/q", {}) is False
    op.shutdown()
    print("ok not connected")


def test_daemon_down():
    """Nothing listens: helpers say False, forwarding never blocks, one log line."""
    op = octo(CLOSED, queue_size=10)
    shim = op.load("mqtt", PLUGIN)
    op.startup()
    assert shim.mqtt_publish("octoprint/x", "x") is False
    start = time.monotonic()
    for i in range(2000):
        shim.on_event("ZChange", {"new": i})
    took = time.monotonic() - start
    assert took < 2, "on_event blocked: %.2f s for 2000 events" % took
    wait_until("the queue to drain", lambda: not shim._queue)
    import logging
    assert op.logs.count(logging.WARNING, "unreachable") == 1, \
        [r.getMessage() for r in op.logs.records]
    assert shim._dropped > 0
    assert op.logs.count(logging.WARNING, "queue full") >= 1

    # A subscription made while the daemon is away is registered once it
    # answers (here: the URL setting now names the live daemon).
    got = threading.Event()
    shim.mqtt_subscribe("octoprint/late", lambda *a, **k: got.set())
    shim._settings.set(["url"], LIVE)
    wait_until("the pending subscription", lambda: webhook_urls(LIVE), 20)
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", BROKER_PORT, "-q", "1",
                    "-t", "octoprint/late", "-m", "late"], check=True)
    assert got.wait(10), "the late subscription was not delivered"
    op.shutdown()
    assert webhook_urls(LIVE) == [], "on_shutdown left webhooks"
    print("ok daemon down")


# The two lines OctoPrint 1.6 and later need (doc/octoprint.md shows them).
SEED_LINES = ('__plugin_pythoncompat__ = ">=3.7,<4"\n'
              "__plugin_implementation__ = __plugin_implementations__[0]\n")


def test_seed_example():
    """The seed README's own example plugin: its code block is read from
    $OCTOMQTTD_SHARED/seed at test time (not copied here). As written it
    is not loaded (OctoPrint >= 1.6 ignores __plugin_implementations__
    and wants __plugin_pythoncompat__); with the two lines it runs and
    gets its echo: "echo: " + message works on the bytes payload."""
    readme = os.path.join(os.environ.get("OCTOMQTTD_SHARED", ""), "seed",
                          "OctoPrint-MQTT-README.md")
    if not os.path.exists(readme):
        print("SKIP seed example: %s not found (set OCTOMQTTD_SHARED to the folder "
              "holding seed/OctoPrint-MQTT-README.md)" % readme)
        return
    with open(readme, encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    code = [b for b in blocks if "get_helpers" in b and "__plugin_implementations__" in b]
    assert len(code) == 1, "the example plugin block was not found in " + readme
    with tempfile.TemporaryDirectory() as tmp:
        as_written = os.path.join(tmp, "seed_as_written.py")
        with open(as_written, "w", encoding="utf-8") as f:
            f.write(code[0])
        fixed = os.path.join(tmp, "seed_fixed.py")
        with open(fixed, "w", encoding="utf-8") as f:
            f.write(code[0] + "\n" + SEED_LINES)
        op = octo(LIVE)
        op.load("mqtt", PLUGIN)
        assert op.load("mqtt_test", "seed_as_written", path=as_written) is None, \
            "the seed example as written would not load on OctoPrint >= 1.6"
        assert "mqtt_test" not in op.plugins
        seed = op.load("mqtt_test", "seed_fixed", path=fixed)
        assert seed is not None, op.logs.lines()
        op.startup()
        message_on("octoprint/plugin/mqtt_test/pub", lambda p: p == "test plugin startup")
        wait_until("its subscription", lambda: webhook_urls(LIVE))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", BROKER_PORT, "-q", "1",
                        "-t", "octoprint/plugin/mqtt_test/sub", "-m", "ping 2"], check=True)
        message_on("octoprint/plugin/mqtt_test/pub", lambda p: p == "echo: ping 2")
        op.shutdown()
    assert webhook_urls(LIVE) == [], "on_shutdown left webhooks"
    print("ok seed example")


if __name__ == "__main__":
    # test_seed_example runs on its own (octoprint_seed.sh): it alone needs
    # a file from outside the tree.
    for name in sys.argv[1:] or ["test_contract", "test_live",
                                 "test_not_connected", "test_daemon_down"]:
        globals()[name]()
