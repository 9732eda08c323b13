"""The octomqttd OctoPrint plugin with a consumer that calls it the way
OctoPrint-HomeAssistant does (hass_test.py), printer control, presence,
refusal warnings and a stalled daemon, under the stub OctoPrint.

Run by tests/integration/octoprint_plugin.sh, which starts mosquitto, one
octomqttd (publish.baseTopic = printers/hass/, publish.lwHostTimeout = 3,
http.token) and a subscriber printing "topic hex-payload retained" lines,
and passes in the environment: URL, TOKEN, DAEMON_PID, HEX_FILE,
BROKER_PORT. Every wait has a deadline; every failure is an
AssertionError.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import harness
import hass_test

URL = os.environ["URL"]
TOKEN = os.environ["TOKEN"]
DAEMON_PID = int(os.environ["DAEMON_PID"])
HEX_FILE = os.environ["HEX_FILE"]
BROKER_PORT = os.environ["BROKER_PORT"]
PLUGIN = "octoprint_octomqttd"
BASE = "printers/hass/"
HA_DEFAULTS = dict(plugins=dict(mqtt=hass_test.MQTT_DEFAULTS))
LIMIT = 0.050   # seconds a helper may take, whatever the daemon does


def wait_until(what, cond, seconds=10):
    end = time.monotonic() + seconds
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def messages(topic=None):
    """[(topic, payload bytes, retained)] the subscriber has seen so far."""
    out = []
    with open(HEX_FILE, encoding="ascii", errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            t, rest = parts[0], parts[1:]
            payload = bytes.fromhex(rest[0]) if len(rest) == 2 else b""
            if topic is None or t == topic:
                out.append((t, payload, rest[-1] == "1"))
    return out


def message_on(topic, pred=lambda p: True, seconds=10):
    return wait_until("a message on " + topic,
                      lambda: next((p for t, p, r in messages(topic) if pred(p)), None),
                      seconds)


def pub(topic, payload, retain=False):
    cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", BROKER_PORT, "-q", "1", "-t", topic,
           "-m", payload]
    if retain:
        cmd.append("-r")
    subprocess.run(cmd, check=True)


def retained(topic):
    r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", BROKER_PORT, "-t", topic,
                        "-C", "1", "-W", "2"], capture_output=True, check=False)
    return r.stdout.rstrip(b"\n")


def octo(**mqtt):
    config = {"url": URL, "token": TOKEN, "timeout": 1, "status_interval": 1}
    config.update(mqtt)
    return harness.OctoPrint({"plugins": {"mqtt": config}})


def test_hass():
    """OctoPrint-HomeAssistant's way of calling: topics from
    plugins.mqtt.publish.* (a stale baseTopic of OctoPrint-MQTT in
    config.yaml is replaced), bytes compared, raw_data bytes, helpers from
    on_event, presence while OctoPrint runs and a goodbye at shutdown."""
    op = octo(publish={"baseTopic": "octoPrint/"})   # left by OctoPrint-MQTT
    hass = op.load("hass_test", "hass_test")
    shim = op.load("mqtt", PLUGIN)
    assert hass is not None and shim is not None, op.logs.lines()
    op.startup()
    gs = op.settings
    for key, want in (("baseTopic", BASE), ("lwTopic", "mqtt"), ("eventTopic", "event/{event}"),
                      ("temperatureTopic", "temperature/{temp}"),
                      ("progressTopic", "progress/{progress}")):
        got = gs.get(["plugins", "mqtt", "publish", key], defaults=HA_DEFAULTS)
        assert got == want, (key, got, want)
    assert "baseTopic" not in gs.config["plugins"]["mqtt"].get("publish", {}), gs.config
    assert gs.saves >= 1
    assert op.logs.count(logging.WARNING, "plugins.mqtt.publish.baseTopic (was 'octoPrint/'")

    # Its "connected" and the daemon's status, decoded from bytes.
    wait_until("hass_test's lw callback", lambda: ("lw", "connected") in hass.log)
    wait_until("a retained connected (presence)", lambda: retained(BASE + "mqtt") == b"connected")
    message_on(BASE + "hass/is_printing", lambda p: p == b"False")

    # Controls: bytes comparisons.
    pub(BASE + "hassControl/stop", "PRESS")
    pub(BASE + "hassControl/pause", "True")
    pub(BASE + "hassControl/pause", "False")
    pub(BASE + "hassControl/psu", "True")
    wait_until("the four controls", lambda: len(hass.log) >= 5 and
               [e for e in hass.log if e[0] != "lw"][:4] ==
               [("stop",), ("pause",), ("resume",), ("psu", "True")])
    assert [c for c in op.printer.calls] == [("commands", "M112"), ("pause",), ("resume",)], \
        op.printer.calls
    assert not [e for e in hass.log if e[0] == "unknown"], hass.log

    # Camera: raw_data bytes, byte for byte.
    pub(BASE + "hassControl/camera", "PRESS")
    assert message_on(BASE + "camera") == hass_test.JPEG
    assert ("camera", True) in hass.log, hass.log

    # Helpers from on_event, through OctoPrint's event bus.
    op.fire("PrintStarted", {"name": "cube.gcode", "path": "cube.gcode", "origin": "local"})
    message_on(BASE + "hass/is_printing", lambda p: p == b"True")
    printing = json.loads(message_on(BASE + "hass/printing"))
    assert printing["event"] == "PrintStarted" and isinstance(printing["_timestamp"], int)
    ev = json.loads(message_on(BASE + "event/PrintStarted"))
    assert ev["name"] == "cube.gcode", ev
    assert all(r is True and took < LIMIT for _, r, took in hass.returns), hass.returns

    op.shutdown()
    # DELETE /presence: disconnected at once (lwHostTimeout is 3 s).
    start = time.monotonic()
    wait_until("disconnected after shutdown",
               lambda: retained(BASE + "mqtt") == b"disconnected", 10)
    assert time.monotonic() - start < 3, "disconnected came from the timeout, not DELETE"
    print("ok hass")


def test_killed():
    """OctoPrint gone without shutdown: no more heartbeats, disconnected
    after publish.lwHostTimeout (3 s)."""
    op = octo()
    shim = op.load("mqtt", PLUGIN)
    op.startup()
    wait_until("connected", lambda: retained(BASE + "mqtt") == b"connected")
    shim.stop()   # the threads end, nothing is said: as if killed
    wait_until("disconnected after the timeout",
               lambda: retained(BASE + "mqtt") == b"disconnected", 10)
    op.web.close()
    print("ok killed")


def test_stalled():
    """The daemon stopped (SIGSTOP): every helper and on_event returns
    within 50 ms; after SIGCONT nothing is published twice."""
    op = octo()
    hass = op.load("hass_test", "hass_test")
    shim = op.load("mqtt", PLUGIN)
    op.startup()
    wait_until("connected", lambda: shim._broker_connected() is True)
    slowest = 0.0
    n = 12
    os.kill(DAEMON_PID, signal.SIGSTOP)
    try:
        stop_end = time.monotonic() + 3
        i = 0
        while time.monotonic() < stop_end or i < n:
            for call in (lambda: shim.mqtt_publish(BASE + "stall/q", "q-%d" % i,
                                                   allow_queueing=True),
                         lambda: shim.mqtt_publish(BASE + "stall/n", "n-%d" % i),
                         lambda: shim.mqtt_publish(BASE + "stall/raw", b"r-%d" % i,
                                                   allow_queueing=True, raw_data=True),
                         lambda: shim.mqtt_publish_with_timestamp(BASE + "stall/ts",
                                                                  {"i": i},
                                                                  allow_queueing=True),
                         lambda: shim.mqtt_subscribe(BASE + "stall/sub", print),
                         lambda: shim.mqtt_unsubscribe(print),
                         lambda: op.fire("Ping", {"n": i})):
                start = time.monotonic()
                call()
                slowest = max(slowest, time.monotonic() - start)
            i += 1
            time.sleep(0.1)
    finally:
        os.kill(DAEMON_PID, signal.SIGCONT)
    assert slowest < LIMIT, "a call took %.3f s with the daemon stopped" % slowest
    assert all(took < LIMIT for _, _, took in hass.returns), hass.returns
    # After SIGCONT the queue drains; the last ones arrive.
    message_on(BASE + "stall/q", lambda p: p == b"q-%d" % (i - 1), 30)
    message_on(BASE + "stall/raw", lambda p: p == b"r-%d" % (i - 1), 30)
    for topic in ("stall/q", "stall/n", "stall/raw", "stall/ts", "hass/printing"):
        seen = [p for _, p, _ in messages(BASE + topic)]
        dup = {p for p in seen if seen.count(p) > 1}
        assert not dup, "published twice on %s: %r" % (topic, sorted(dup)[:5])
    assert shim._dropped == 0
    op.shutdown()
    print("ok stalled (slowest call %.1f ms)" % (slowest * 1000))


def control_results(after):
    return [json.loads(p) for _, p, _ in messages(BASE + "control/result")[after:]]


def test_control():
    """Printer control over MQTT: off by default; when on, each command is
    answered on control/result, bad ones with an error, never raised."""
    op = octo()
    op.load("mqtt", PLUGIN)
    op.startup()
    pub(BASE + "control/pause", "")
    pub(BASE + "control/result", "probe")   # arrives after the pause would have
    wait_until("the probe", lambda: [p for _, p, _ in messages(BASE + "control/result")])
    assert op.printer.calls == [], op.printer.calls
    op.shutdown()

    n = len(messages(BASE + "control/result"))
    # A retained command would run at every subscribe: refused.
    pub(BASE + "control/cancel", "now", retain=True)
    op = octo(control={"enabled": True, "gcode": False})
    op.load("mqtt", PLUGIN)
    op.startup()
    wait_until("the control subscription",
               lambda: op.plugins["mqtt"].implementation._control_topic == BASE + "control/+")
    # The webhook is registered once the sender got to it.
    wait_until("registered", lambda: all(
        e["id"] for rec in op.plugins["mqtt"].implementation._by_token.values()
        for e in rec["entries"]))
    first = wait_until("the answer to the retained cancel", lambda: control_results(n))[0]
    assert first["command"] == "cancel" and first["ok"] is False, first
    assert "retained" in first["error"], first
    n += 1
    p = op.printer
    steps = [
        ("pause", "", {"ok": False, "error": "not printing"}),
        ("bogus", "", {"ok": False}),
        ("gcode", "G28", {"ok": False, "error": "gcode is off (plugins.mqtt.control.gcode)"}),
        ("home", '["x","q"]', {"ok": False}),
        ("home", "{bad json", {"ok": False, "error": "payload is not JSON"}),
        ("home", '["x","y"]', {"ok": True, "error": None}),
        ("connect", '{"port":"VIRTUAL"}', {"ok": False, "error": "already connected"}),
        ("disconnect", "", {"ok": True}),
    ]
    for i, (cmd, payload, want) in enumerate(steps):
        pub(BASE + "control/" + cmd, payload)
        got = wait_until("the answer to " + cmd,
                         lambda: len(control_results(n)) > i and control_results(n)[i])
        assert got["command"] == cmd, got
        for k, v in want.items():
            assert got[k] == v, (cmd, got)
        if not got["ok"]:
            assert isinstance(got["error"], str) and got["error"], got
    p.printing = True
    pub(BASE + "control/pause", "")
    pub(BASE + "control/cancel", "")
    wait_until("two more answers", lambda: len(control_results(n)) >= len(steps) + 2)
    tail = control_results(n)[len(steps):]
    assert [(r["command"], r["ok"]) for r in tail] == [("pause", True), ("cancel", True)], tail
    assert p.calls == [("home", ["x", "y"]), ("disconnect",), ("pause",), ("cancel",)], p.calls
    op.shutdown()
    # Cleared once nobody listens (an empty message would be a command too).
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", BROKER_PORT, "-q", "1", "-t",
                    BASE + "control/cancel", "-r", "-n"], check=True)

    op = octo(control={"enabled": True, "gcode": True})
    op.load("mqtt", PLUGIN)
    op.startup()
    n = len(messages(BASE + "control/result"))
    wait_until("registered", lambda: op.plugins["mqtt"].implementation._control_topic and all(
        e["id"] for rec in op.plugins["mqtt"].implementation._by_token.values()
        for e in rec["entries"]))
    pub(BASE + "control/gcode", "G28\nM105\n")
    got = wait_until("the gcode answer", lambda: control_results(n))
    assert got[0] == {"command": "gcode", "ok": True, "error": None}, got
    assert op.printer.calls == [("commands", ["G28", "M105"])], op.printer.calls
    op.shutdown()
    print("ok control")


def test_refused():
    """A wrong token: every forward is refused (401); one warning per cause."""
    op = octo(token="wrong")
    shim = op.load("mqtt", PLUGIN)
    op.startup()
    for i in range(30):
        op.fire("Ping", {"n": i})
    wait_until("the queue to drain", lambda: not shim._queue)
    wait_until("the warning", lambda: op.logs.count(logging.WARNING,
                                                    "octomqttd refused POST /events/Ping: 401"))
    assert op.logs.count(logging.WARNING, "octomqttd refused POST /events") == 1, \
        op.logs.lines()
    assert op.logs.count(logging.WARNING, "GET /status with 401") == 1, op.logs.lines()
    op.shutdown()
    print("ok refused")


if __name__ == "__main__":
    for name in sys.argv[1:] or ["test_hass", "test_killed", "test_control", "test_refused",
                                 "test_stalled"]:
        globals()[name]()
