"""A small SDK for Starling plugins, standard library only.

The node runs the plugin as a child process and speaks newline-delimited JSON-RPC 2.0 over its
stdin and stdout (docs/plugins.md). Subclass Plugin, define the hooks you implement as methods
named like them, and call run(). While a hook runs it may call the node (self.call or the helpers
below); calls the node makes meanwhile are answered in between, so a plugin may create a post from
a command even though the post's own hooks come back to it.

Exit when stdin closes: that is how a node that stops (or dies) ends its plugins.
"""

import base64
import json
import sys
import traceback

HOOKS = (
    "message_will_be_posted",
    "message_will_be_updated",
    "message_has_been_posted",
)


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Plugin:
    def __init__(self):
        self.plugin_id = ""
        self.node_id = ""
        self.configuration = {}
        self._next_id = 1
        self._out = sys.stdout
        self._in = sys.stdin

    # What the plugin registers: override `commands`, and define the hook methods.
    def commands(self):
        return []

    def on_activate(self):
        pass

    def on_deactivate(self):
        pass

    # The node's API.
    def call(self, method, params=None):
        my_id = self._next_id
        self._next_id += 1
        self._send({"jsonrpc": "2.0", "id": my_id, "method": method, "params": params or {}})
        while True:
            message = self._read()
            if message is None:
                raise RpcError(-32000, "the node closed the connection")
            if "method" in message:
                self._dispatch(message)
                continue
            if message.get("id") != my_id:
                continue
            if message.get("error"):
                e = message["error"]
                raise RpcError(e.get("code", -32000), e.get("message", "error"))
            return message.get("result")

    def log(self, message, level="info", **fields):
        self._send({"jsonrpc": "2.0", "method": "log",
                    "params": {"level": level, "message": message, "fields": fields}})

    def create_post(self, user_id, channel_id, message, root_id="", props=None):
        return self.call("create_post", {"post": {"user_id": user_id, "channel_id": channel_id,
                                                  "message": message, "root_id": root_id,
                                                  "props": props or {}}})

    def get_user(self, user_id):
        return self.call("get_user", {"user_id": user_id})

    def get_channel(self, channel_id):
        return self.call("get_channel", {"channel_id": channel_id})

    def publish_websocket_event(self, event, data, user_id="", channel_id="", team_id=""):
        return self.call("publish_websocket_event", {
            "event": event, "data": data,
            "broadcast": {"user_id": user_id, "channel_id": channel_id, "team_id": team_id}})

    def kv_get(self, key):
        v = self.call("kv_get", {"key": key})["value"]
        return None if v is None else base64.b64decode(v)

    def kv_set(self, key, value, expire_in_seconds=0):
        return self.call("kv_set", {"key": key, "value": _b64(value),
                                    "expire_in_seconds": expire_in_seconds})

    def kv_delete(self, key):
        return self.call("kv_delete", {"key": key})["deleted"]

    def kv_compare_and_set(self, key, old, new, expire_in_seconds=0):
        return self.call("kv_compare_and_set", {"key": key, "old_value": _b64(old),
                                                "new_value": _b64(new),
                                                "expire_in_seconds": expire_in_seconds})["ok"]

    def kv_list(self, page=0, per_page=100):
        return self.call("kv_list", {"page": page, "per_page": per_page})["keys"]

    # The loop.
    def run(self):
        while True:
            message = self._read()
            if message is None:
                return
            if "method" in message:
                self._dispatch(message)

    def _read(self):
        while True:
            line = self._in.readline()
            if not line:
                return None
            line = line.strip()
            if not line:
                continue
            try:
                return json.loads(line)
            except ValueError:
                continue

    def _send(self, message):
        self._out.write(json.dumps(message, separators=(",", ":")) + "\n")
        self._out.flush()

    def _dispatch(self, message):
        method = message.get("method")
        params = message.get("params") or {}
        msg_id = message.get("id")
        try:
            result = self._handle(method, params)
            if msg_id is not None:
                self._send({"jsonrpc": "2.0", "id": msg_id, "result": result})
        except RpcError as e:
            if msg_id is not None:
                self._send({"jsonrpc": "2.0", "id": msg_id,
                            "error": {"code": e.code, "message": e.message}})
        except Exception as e:  # a bug in the plugin: say so, keep running
            sys.stderr.write(traceback.format_exc())
            if msg_id is not None:
                self._send({"jsonrpc": "2.0", "id": msg_id,
                            "error": {"code": -32000, "message": str(e)}})
        if method == "deactivate":
            sys.exit(0)

    def _handle(self, method, params):
        if method == "activate":
            self.plugin_id = params.get("plugin_id", "")
            self.node_id = params.get("node_id", "")
            self.configuration = params.get("configuration") or {}
            self.on_activate()
            hooks = [h for h in HOOKS if callable(getattr(self, h, None))]
            if callable(getattr(self, "serve_http", None)):
                hooks.append("serve_http")
            return {"hooks": hooks, "commands": self.commands()}
        if method == "deactivate":
            self.on_deactivate()
            return None
        if method == "health":
            return {"ok": True}
        if method == "configuration_change":
            self.configuration = params.get("configuration") or {}
            return None
        if method == "execute_command":
            return self.execute_command(params["args"])
        if method == "serve_http":
            handler = getattr(self, "serve_http", None)
            if handler is None:
                return {"status": 404, "headers": {}, "body": ""}
            status, headers, body = handler(params)
            if isinstance(body, str):
                body = body.encode()
            return {"status": status, "headers": headers, "body": base64.b64encode(body).decode()}
        if method == "message_will_be_posted":
            return self.message_will_be_posted(params["post"])
        if method == "message_will_be_updated":
            return self.message_will_be_updated(params["new_post"], params["old_post"])
        if method == "message_has_been_posted":
            return self.message_has_been_posted(params["post"])
        raise RpcError(-32601, "no method %r" % method)

    def execute_command(self, args):
        raise RpcError(-32601, "this plugin has no commands")


def keep():
    """A hook's answer: the post goes on as it is."""
    return {}


def replace(post):
    """A hook's answer: the post goes on changed."""
    return {"post": post}


def reject(reason):
    """A hook's answer: the post is refused, saying why."""
    return {"rejected": reason}


def _b64(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode()
    return base64.b64encode(value).decode()
