"""Starling's sample plugin.

- /sample            says which node answered, with the configured greeting;
- /sample count      adds one to a counter every node shares (an atomic key-value update);
- /sample echo TEXT  posts TEXT in the channel as the caller;
- /sample ping       sends the caller the websocket event custom_com.starling.sample_ping;
- posts containing #shout are shouted (upper case, the tag dropped), posts containing
  #reject-me are refused;
- GET /plugins/com.starling.sample/hello answers who asked and which node answered.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from starling_plugin import Plugin, keep, reject, replace  # noqa: E402


class Sample(Plugin):
    def commands(self):
        return [{"trigger": "sample", "description": "Starling's sample plugin",
                 "hint": "[count|echo TEXT|ping]"}]

    def on_activate(self):
        self.log("sample plugin activated", node=self.node_id)

    def message_will_be_posted(self, post):
        message = post.get("message", "")
        if "#reject-me" in message:
            return reject("the sample plugin refuses #reject-me")
        if "#shout" in message:
            post["message"] = message.replace("#shout", "").strip().upper()
            post.setdefault("props", {})
            if not isinstance(post["props"], dict):
                post["props"] = {}
            post["props"]["shouted_by"] = self.node_id
            return replace(post)
        return keep()

    def execute_command(self, args):
        words = args.get("args", "").split(None, 1)
        sub = words[0] if words else ""
        if sub == "count":
            n = self.increment("counter")
            return {"response_type": "ephemeral", "text": "count is %d (node %s)" % (n, self.node_id)}
        if sub == "echo" and len(words) > 1:
            self.create_post(args["user_id"], args["channel_id"], words[1], root_id=args.get("root_id", ""))
            return {"response_type": "ephemeral", "text": ""}
        if sub == "ping":
            self.publish_websocket_event("ping", {"node": self.node_id}, user_id=args["user_id"])
            return {"response_type": "ephemeral", "text": "pinged"}
        greeting = self.configuration.get("Greeting") or "Hello from the sample plugin"
        return {"response_type": "ephemeral", "text": "%s (node %s)" % (greeting, self.node_id)}

    def increment(self, key):
        for _ in range(50):
            old = self.kv_get(key)
            n = int(old) + 1 if old is not None else 1
            if self.kv_compare_and_set(key, old, str(n)):
                return n
        raise RuntimeError("the counter is too busy")

    def serve_http(self, request):
        if request["path"] != "/hello":
            return 404, {"Content-Type": "text/plain"}, "not found"
        body = json.dumps({"plugin": self.plugin_id, "user_id": request["user_id"],
                           "node": self.node_id, "method": request["method"]})
        return 200, {"Content-Type": "application/json"}, body


if __name__ == "__main__":
    Sample().run()
