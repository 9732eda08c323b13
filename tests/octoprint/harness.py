"""A minimal OctoPrint for tests: loads plugins the way OctoPrint 1.6 and
later does, plays the plugin manager, the settings and the web server of
BlueprintPlugin routes, and a printer that records what it is told.

What it takes from OctoPrint's loader (src/octoprint/plugin/core.py,
read, not copied):
- a module counts as a plugin only if it has control properties
  (module-level names like __plugin_name__, __plugin_implementation__,
  __plugin_load__), found by parsing its source, not by importing it;
- __plugin_pythoncompat__ is read from the source too; without it the
  default ">=2.7,<3" applies, so on Python 3 the plugin is not loaded;
- __plugin_check__, then __plugin_load__, then the singular
  __plugin_implementation__ (the plural __plugin_implementations__ has
  been ignored since 1.6);
- helpers are looked up through get_helpers(name, *helpers), which reads
  the module's __plugin_helpers__ at call time, None for unknown plugins;
- the settings defaults of every SettingsPlugin become an overlay at the
  end of the global settings; lookups go config.yaml, overlays, the
  defaults given to the call;
- startup calls go in identifier order (all plugins have the default
  sorting key here), every on_startup before any on_after_startup.

Uses the stub packages under tests/octoprint/stub (on PYTHONPATH).
"""

import ast
import copy
import http.server
import importlib.util
import json
import logging
import re
import sys
import threading

import flask
import octoprint.plugin
import octoprint.settings

CONTROL_PROPERTIES = (
    "__plugin_name__", "__plugin_description__", "__plugin_disabling_discouraged__",
    "__plugin_version__", "__plugin_author__", "__plugin_url__", "__plugin_license__",
    "__plugin_privacypolicy__", "__plugin_pythoncompat__", "__plugin_hidden__",
    "__plugin_hooks__", "__plugin_implementation__", "__plugin_helpers__",
    "__plugin_check__", "__plugin_load__", "__plugin_unload__", "__plugin_enable__",
    "__plugin_disable__")
DEFAULT_PYTHONCOMPAT = ">=2.7,<3"


def parse_metadata(path):
    """Control properties found in the source (as OctoPrint's AST pass)."""
    with open(path, "rb") as f:
        root = ast.parse(f.read(), filename=path)
    result = {"has_control_properties": False}
    for node in root.body:
        names = []
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.FunctionDef):
            names = [node.name]
        for name in names:
            if name in CONTROL_PROPERTIES:
                result["has_control_properties"] = True
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and \
                        isinstance(node.value.value, str):
                    result[name] = node.value.value
    return result


def _version(text):
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def python_compatible(compat, version=None):
    """A specifier list like ">=3.7,<4" against this Python."""
    here = version or sys.version_info[:3]
    ops = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
           "<": lambda a, b: a < b, "==": lambda a, b: a[:len(b)] == b,
           "!=": lambda a, b: a[:len(b)] != b}
    for spec in compat.split(","):
        m = re.match(r"^\s*(>=|<=|==|!=|>|<)\s*([\d.]+)\s*$", spec)
        if not m:
            return False
        want = _version(m.group(2))
        if m.group(1) in ("==", "!="):
            ok = ops[m.group(1)](tuple(here), want)
        else:
            ok = ops[m.group(1)](tuple(here)[:len(want)], want)
        if not ok:
            return False
    return True


def _lookup(tree, path):
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return False, None
        tree = tree[key]
    return True, tree


class GlobalSettings:
    """config.yaml (config), overlays (first wins), then call defaults."""

    def __init__(self, config=None):
        self.config = copy.deepcopy(config or {})
        self.overlays = []   # [(key, tree)]
        self.saves = 0
        self.lock = threading.RLock()

    def get(self, path, defaults=None, incl_defaults=True, **kwargs):
        with self.lock:
            layers = [self.config]
            if incl_defaults:
                layers += [tree for _, tree in self.overlays]
                if defaults is not None:
                    layers.append(defaults)
            for layer in layers:
                found, value = _lookup(layer, path)
                if found:
                    return copy.deepcopy(value)
            return None

    def set(self, path, value, **kwargs):
        with self.lock:
            tree = self.config
            for key in path[:-1]:
                tree = tree.setdefault(key, {})
            tree[path[-1]] = value

    def remove(self, path, **kwargs):
        with self.lock:
            found, parent = _lookup(self.config, path[:-1])
            if found and isinstance(parent, dict):
                parent.pop(path[-1], None)

    def add_overlay(self, overlay, at_end=False, key=None):
        with self.lock:
            key = key or str(len(self.overlays))
            if at_end:
                self.overlays.append((key, overlay))
            else:
                self.overlays.insert(0, (key, overlay))
            return key

    def remove_overlay(self, key):
        with self.lock:
            before = len(self.overlays)
            self.overlays = [(k, t) for k, t in self.overlays if k != key]
            return len(self.overlays) != before

    def save(self, **kwargs):
        self.saves += 1


class PluginSettings:
    """plugins.<id> of the global settings, with the plugin's defaults."""

    def __init__(self, global_settings, key, defaults):
        self.gs = global_settings
        self.key = key
        self.defaults = {"plugins": {key: defaults}}

    def _p(self, path):
        return ["plugins", self.key] + list(path)

    def get(self, path, **kwargs):
        kwargs.setdefault("defaults", self.defaults)
        return self.gs.get(self._p(path), **kwargs)

    def get_boolean(self, path, **kwargs):
        return bool(self.get(path, **kwargs))

    def set(self, path, value, **kwargs):
        self.gs.set(self._p(path), value)

    def remove(self, path, **kwargs):
        self.gs.remove(self._p(path))

    def add_overlay(self, overlay, at_end=False, key=None):
        return self.gs.add_overlay({"plugins": {self.key: overlay}}, at_end=at_end, key=key)

    def remove_overlay(self, key):
        return self.gs.remove_overlay(key)

    def global_get(self, path, **kwargs):
        return self.gs.get(path, **kwargs)

    def save(self, **kwargs):
        self.gs.save()


class PluginInfo:
    def __init__(self, identifier, module, implementation):
        self.identifier = identifier
        self.module = module
        self.implementation = implementation

    @property
    def helpers(self):
        return getattr(self.module, "__plugin_helpers__", None) or {}

    @property
    def hooks(self):
        return getattr(self.module, "__plugin_hooks__", None) or {}


class PluginManager:
    def __init__(self):
        self.enabled_plugins = {}

    def get_helpers(self, name, *helpers):
        plugin = self.enabled_plugins.get(name)
        if plugin is None:
            return None
        found = plugin.helpers
        if helpers:
            return {k: v for k, v in found.items() if k in helpers}
        return found


class Printer:
    """Records what plugins tell the printer; states are plain attributes."""

    def __init__(self):
        self.calls = []
        self.operational = True
        self.printing = False
        self.paused = False
        self.closed = False
        self.lock = threading.Lock()

    def _record(self, *call):
        with self.lock:
            self.calls.append(call)

    def is_operational(self):
        return self.operational

    def is_printing(self):
        return self.printing

    def is_paused(self):
        return self.paused

    def is_closed_or_error(self):
        return self.closed

    def connect(self, port=None, baudrate=None, profile=None):
        self._record("connect", port, baudrate, profile)

    def disconnect(self):
        self._record("disconnect")

    def pause_print(self):
        self._record("pause")

    def resume_print(self):
        self._record("resume")

    def cancel_print(self):
        self._record("cancel")

    def home(self, axes):
        self._record("home", list(axes))

    def commands(self, commands):
        self._record("commands", commands)

    def get_current_data(self):
        return {"state": {"text": "Operational"}, "progress": {}, "job": {}}

    def get_current_connection(self):
        return ("Closed" if self.closed else "Operational", None, None, None)


class CapturingHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def count(self, level, text):
        return sum(1 for r in self.records
                   if r.levelno == level and text in r.getMessage())

    def lines(self):
        return ["%s %s" % (r.levelname, r.getMessage()) for r in self.records]


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

    def __init__(self, config=None):
        self.settings = GlobalSettings(config)
        octoprint.settings._instance = self.settings
        self.plugin_manager = PluginManager()
        self.printer = Printer()
        self.web = WebServer()
        self.plugins = {}
        self.logs = CapturingHandler()
        self.log = logging.getLogger("octoprint.harness")
        self.log.addHandler(self.logs)
        self.log.setLevel(logging.DEBUG)

    def load(self, identifier, module_name=None, path=None):
        """Load a plugin from a module name or a single-file path; the
        implementation, or None when OctoPrint would not load it (logged)."""
        if path is None:
            spec = importlib.util.find_spec(module_name)
            if spec is None or spec.origin is None:
                raise ImportError(module_name)
            path = spec.origin
        else:
            spec = importlib.util.spec_from_file_location(module_name or identifier, path)
        meta = parse_metadata(path)
        if not meta["has_control_properties"]:
            self.log.warning("%s: no control properties, not a plugin", identifier)
            return None
        compat = meta.get("__plugin_pythoncompat__", DEFAULT_PYTHONCOMPAT)
        if not python_compatible(compat):
            self.log.warning("Plugin %s is not compatible to Python %d.%d.%d "
                             "(compatibility string: %s)", identifier, *sys.version_info[:3],
                             compat)
            return None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        check = getattr(module, "__plugin_check__", None)
        if check is not None and not check():
            self.log.info("Plugin %s did not pass check, not loading.", identifier)
            return None
        load = getattr(module, "__plugin_load__", None)
        if load is not None:
            load()
        impl = getattr(module, "__plugin_implementation__", None)
        info = PluginInfo(identifier, module, impl)
        if impl is not None:
            if not isinstance(impl, octoprint.plugin.Plugin):
                self.log.error("%s: the implementation is not an octoprint.plugin.Plugin",
                               identifier)
                return None
            self._inject(identifier, module, impl)
        else:
            self.log.warning("%s: no __plugin_implementation__", identifier)
        self.plugins[identifier] = info
        self.plugin_manager.enabled_plugins[identifier] = info
        return impl

    def _inject(self, identifier, module, impl):
        impl._identifier = identifier
        impl._plugin_name = getattr(module, "__plugin_name__", identifier)
        impl._plugin_version = getattr(module, "__plugin_version__", None)
        impl._logger = logging.getLogger("octoprint.plugins." + identifier)
        impl._logger.addHandler(self.logs)
        impl._logger.setLevel(logging.DEBUG)
        impl._plugin_manager = self.plugin_manager
        impl._printer = self.printer
        if isinstance(impl, octoprint.plugin.SettingsPlugin):
            defaults = impl.get_settings_defaults() or {}
            self.settings.add_overlay({"plugins": {identifier: copy.deepcopy(defaults)}},
                                      at_end=True, key="defaults:" + identifier)
            impl._settings = PluginSettings(self.settings, identifier, defaults)
        if hasattr(impl, "is_blueprint_protected"):
            self.web.add_blueprint(identifier, impl)
        impl.initialize()

    def hook(self, identifier, name):
        return self.plugins[identifier].hooks[name]

    def _implementations(self, cls):
        return [self.plugins[k].implementation for k in sorted(self.plugins)
                if isinstance(self.plugins[k].implementation, cls)]

    def startup(self):
        for impl in self._implementations(octoprint.plugin.StartupPlugin):
            impl.on_startup("127.0.0.1", self.web.port)
        for impl in self._implementations(octoprint.plugin.StartupPlugin):
            impl.on_after_startup()

    def fire(self, event, payload=None):
        """OctoPrint's event bus: every EventHandlerPlugin, in order."""
        for impl in self._implementations(octoprint.plugin.EventHandlerPlugin):
            try:
                impl.on_event(event, payload)
            except Exception:
                self.log.exception("on_event of %s", impl._identifier)

    def shutdown(self):
        for impl in self._implementations(octoprint.plugin.ShutdownPlugin):
            impl.on_shutdown()
        self.web.close()


def json_body(data):
    return json.loads(data.decode("utf-8")) if data else None
