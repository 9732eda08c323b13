"""A minimal OctoPrint for tests: loads plugins, plays the plugin manager,
settings and the web server of BlueprintPlugin routes.

Uses the stub packages under tests/octoprint/stub (on PYTHONPATH).
"""

import http.server
import importlib
import json
import logging
import re
import threading

import flask


class Settings:
    """plugins.<id> settings: the plugin's defaults overlaid with overrides."""

    def __init__(self, defaults, overrides):
        self.values = dict(defaults)
        self.values.update(overrides)

    def get(self, path):
        value = self.values
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    def set(self, path, value):
        self.values[path[0]] = value


class PluginManager:
    def __init__(self):
        self.helpers = {}

    def get_helpers(self, name, *helpers):
        found = self.helpers.get(name)
        if found is None:
            return None
        if not helpers:
            return dict(found)
        return {k: v for k, v in found.items() if k in helpers}


class CapturingHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def count(self, level, text):
        return sum(1 for r in self.records
                   if r.levelno == level and text in r.getMessage())


class WebServer:
    """Serves /plugin/<identifier>/<rule> of the loaded BlueprintPlugins."""

    def __init__(self):
        self.routes = []   # (regex, method set, bound function)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.dispatch(self, "POST")

            def do_GET(self):
                outer.dispatch(self, "GET")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.requests = 0
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_blueprint(self, identifier, impl):
        for name in dir(type(impl)):
            f = getattr(type(impl), name, None)
            for rule, options in getattr(f, "_blueprint_rules", []):
                pattern = re.sub(r"<([a-z_]+)>", r"(?P<\1>[^/]+)", rule)
                regex = re.compile("^/plugin/%s%s$" % (re.escape(identifier), pattern))
                methods = set(options.get("methods", ["GET"]))
                self.routes.append((regex, methods, getattr(impl, name), impl))

    def dispatch(self, h, method):
        self.requests += 1
        length = int(h.headers.get("Content-Length") or 0)
        data = h.rfile.read(length) if length else b""
        status, body = 404, b""
        for regex, methods, fn, impl in self.routes:
            m = regex.match(h.path)
            if not m:
                continue
            if method not in methods:
                status = 405
                continue
            # OctoPrint would demand an API key on a protected blueprint,
            # and a CSRF token unless the route is exempt.
            if impl.is_blueprint_protected():
                status = 403
                break
            if impl.is_blueprint_csrf_protected() and not getattr(fn, "_blueprint_csrf_exempt",
                                                                  False):
                status = 400
                break
            flask.request.data = data
            flask.request.headers = h.headers
            result = fn(**m.groupdict())
            if isinstance(result, tuple):
                text, status = result[0], result[1]
            else:
                text, status = result, 200
            body = text.encode("utf-8") if isinstance(text, str) else (text or b"")
            break
        h.send_response(status)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class OctoPrint:
    """Loads plugin modules and starts them like OctoPrint's start-up does."""

    def __init__(self):
        self.plugin_manager = PluginManager()
        self.web = WebServer()
        self.plugins = {}
        self.logs = CapturingHandler()

    def load(self, identifier, module_name, settings=None, module=None):
        mod = module or importlib.import_module(module_name)
        if hasattr(mod, "__plugin_load__"):
            mod.__plugin_load__()
        impls = getattr(mod, "__plugin_implementations__", None) or \
            [getattr(mod, "__plugin_implementation__")]
        impl = impls[0]
        impl._identifier = identifier
        impl._logger = logging.getLogger("octoprint.plugins." + identifier)
        impl._logger.addHandler(self.logs)
        impl._logger.setLevel(logging.DEBUG)
        defaults = impl.get_settings_defaults() if hasattr(impl, "get_settings_defaults") else {}
        impl._settings = Settings(defaults or {}, settings or {})
        impl._plugin_manager = self.plugin_manager
        impl._printer = None
        helpers = getattr(mod, "__plugin_helpers__", None)
        if helpers:
            self.plugin_manager.helpers[identifier] = helpers
        if hasattr(impl, "is_blueprint_protected"):
            self.web.add_blueprint(identifier, impl)
        self.plugins[identifier] = (mod, impl)
        return impl

    def hook(self, identifier, name):
        return getattr(self.plugins[identifier][0], "__plugin_hooks__")[name]

    def startup(self):
        for _, impl in self.plugins.values():
            if hasattr(impl, "on_startup"):
                impl.on_startup("127.0.0.1", self.web.port)
        for _, impl in self.plugins.values():
            if hasattr(impl, "on_after_startup"):
                impl.on_after_startup()

    def shutdown(self):
        for _, impl in self.plugins.values():
            if hasattr(impl, "on_shutdown"):
                impl.on_shutdown()
        self.web.close()


def json_body(data):
    return json.loads(data.decode("utf-8")) if data else None
