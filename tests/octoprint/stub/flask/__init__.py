"""Stand-in for flask.request: the harness sets it for each request."""

import threading


class _Request(threading.local):
    data = b""
    headers = {}

    def get_data(self):
        return self.data


request = _Request()
