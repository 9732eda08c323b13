"""Stand-in for octoprint.plugin: mixin bases with no-op defaults."""


class Plugin:
    def initialize(self):
        pass


class SortablePlugin(Plugin):
    def get_sorting_key(self, context=None):
        return None


class SettingsPlugin(Plugin):
    def get_settings_defaults(self):
        return {}


class StartupPlugin(Plugin):
    def on_startup(self, host, port):
        pass

    def on_after_startup(self):
        pass


class ShutdownPlugin(Plugin):
    def on_shutdown(self):
        pass


class EventHandlerPlugin(Plugin):
    def on_event(self, event, payload):
        pass


class ProgressPlugin(Plugin):
    def on_print_progress(self, storage, path, progress):
        pass

    def on_slicing_progress(self, slicer, source_location, source_path,
                            destination_location, destination_path, progress):
        pass


class BlueprintPlugin(Plugin):
    """Routes are marked on the functions, as OctoPrint does."""

    @staticmethod
    def route(rule, **options):
        def decorator(f):
            rules = getattr(f, "_blueprint_rules", [])
            f._blueprint_rules = rules + [(rule, options)]
            return f
        return decorator

    @staticmethod
    def csrf_exempt():
        def decorator(f):
            f._blueprint_csrf_exempt = True
            return f
        return decorator

    def is_blueprint_protected(self):
        return True

    def is_blueprint_csrf_protected(self):
        return False
