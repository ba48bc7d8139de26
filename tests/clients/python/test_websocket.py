"""Websocket events against a running Starling, received by the real Python clients.

mattermostdriver 7.3.2 (websockets) and mattermostautodriver 11.x (aiohttp) both
authenticate with an `authentication_challenge`, wait for `hello` with seq 0 and
then hand every frame to an event handler. Their `init_websocket` runs an asyncio
loop forever in the calling thread: here it runs in a daemon thread that puts
every frame into a list the test waits on, each wait bounded.

Set STARLING_URL (e.g. http://127.0.0.1:18065) to a server whose database is
empty (the first user created here becomes the admin that creates the others), or
set STARLING_ADMIN_LOGIN and STARLING_ADMIN_PASSWORD to an existing admin.
"""

import asyncio
import json
import os
import re
import secrets
import threading
import time
from urllib.parse import urlsplit

import pytest
from mattermostdriver import Driver
from mattermostdriver.websocket import Websocket as DriverWebsocket

URL = os.environ.get("STARLING_URL", "").rstrip("/")
if not URL:
    pytest.skip("STARLING_URL is not set", allow_module_level=True)

_SPLIT = urlsplit(URL)
SCHEME = _SPLIT.scheme or "http"
HOST = _SPLIT.hostname or "127.0.0.1"
PORT = _SPLIT.port or (443 if SCHEME == "https" else 80)
BASEPATH = _SPLIT.path.rstrip("/") + "/api/v4"
TIMEOUT = 30  # seconds, for every request
WAIT = 15  # seconds, for every websocket wait
QUIET = 1.0  # seconds to wait for an event that must not come

# aiohttp warns about mattermostautodriver passing ssl=None for ws://
pytestmark = pytest.mark.filterwarnings("ignore:ssl=None is deprecated:DeprecationWarning")

ID_RE = re.compile(r"^[a-z0-9]{26}$")
PASSWORD = "Starling-" + secrets.token_hex(8)


def unique(prefix):
    return f"{prefix}{secrets.token_hex(5)}"


def new_driver(**options):
    opts = {
        "scheme": SCHEME,
        "url": HOST,
        "port": PORT,
        "basepath": BASEPATH,
        "verify": True,
        "request_timeout": TIMEOUT,
        # the websocket's own receive timeout, after which mattermostdriver sends a pong
        "timeout": 5,
        # one connection per listener: the tests close it themselves
        "keepalive": False,
    }
    opts.update(options)
    return Driver(opts)


def login(username, password=PASSWORD, **options):
    driver = new_driver(login_id=username, password=password, **options)
    me = driver.login()
    return driver, me


# --------------------------------------------------------------------------
# a websocket client in a thread


class _RecordingDriverWebsocket(DriverWebsocket):
    """mattermostdriver's Websocket, unchanged but for keeping the socket it
    connected, so that the test can close it at the end (the driver's own
    disconnect() only takes effect at the next frame or receive timeout)."""

    socket = None

    async def _authenticate_websocket(self, websocket, event_handler):
        self.socket = websocket
        return await super()._authenticate_websocket(websocket, event_handler)


def _recording_autodriver_websocket():
    from mattermostautodriver.websocket import Websocket as AutoWebsocket

    class _RecordingAutoWebsocket(AutoWebsocket):
        socket = None

        async def _authenticate_websocket(self, websocket, event_handler):
            self.socket = websocket
            return await super()._authenticate_websocket(websocket, event_handler)

    return _RecordingAutoWebsocket


def _cancel_all(loop):
    for task in asyncio.all_tasks(loop):
        task.cancel()


class Listener:
    """Runs driver.init_websocket(handler) in a daemon thread and records every
    frame the handler gets, in order: (monotonic time, raw text, parsed JSON)."""

    def __init__(self, driver, websocket_cls, name):
        self.driver = driver
        self.websocket_cls = websocket_cls
        self.name = name
        self.frames = []
        self.cond = threading.Condition()
        self.loop = None
        self.finished = None  # the exception init_websocket ended with, or "returned"
        self.thread = threading.Thread(target=self._run, name=f"ws-{name}", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # init_websocket calls asyncio.get_event_loop()
        self.loop = loop

        async def handler(message):
            try:
                parsed = json.loads(message)
            except ValueError:
                parsed = None
            with self.cond:
                self.frames.append((time.monotonic(), message, parsed))
                self.cond.notify_all()

        outcome = "returned"
        try:
            self.driver.init_websocket(handler, websocket_cls=self.websocket_cls)
        except BaseException as exc:  # CancelledError when stopped
            outcome = exc
        finally:
            with self.cond:
                self.finished = outcome
                self.cond.notify_all()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def events(self):
        with self.cond:
            return [p for _, _, p in self.frames if isinstance(p, dict) and "event" in p]

    def replies(self):
        with self.cond:
            return [p for _, _, p in self.frames if isinstance(p, dict) and "seq_reply" in p]

    def describe(self, limit=12):
        with self.cond:
            tail = [raw if len(raw) < 400 else raw[:400] + "..." for _, raw, _ in self.frames[-limit:]]
            state = f"{len(self.frames)} frames; client loop finished: {self.finished!r}"
        return f"[{self.name}] {state}; last frames:\n    " + "\n    ".join(tail)

    def wait_for(self, predicate, what, timeout=WAIT):
        """The first recorded frame (parsed) that satisfies predicate, waiting up
        to timeout seconds for it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for _, _, parsed in self.frames:
                    if isinstance(parsed, dict) and predicate(parsed):
                        return parsed
                left = deadline - time.monotonic()
                if left <= 0 or self.finished is not None:
                    break
                self.cond.wait(min(left, 0.5))
        pytest.fail(f"no {what} within {timeout} s. {self.describe()}")

    def wait_event(self, name, match=None, timeout=WAIT):
        return self.wait_for(
            lambda m: m.get("event") == name and (match is None or match(m)),
            f"'{name}' event",
            timeout,
        )

    def wait_hello(self):
        return self.wait_event("hello")

    def stop(self):
        ws = self.driver.websocket
        if ws is not None:
            ws.disconnect()
        loop = self.loop
        if loop is not None and self.thread.is_alive():
            sock = getattr(ws, "socket", None)
            if sock is not None:
                try:
                    asyncio.run_coroutine_threadsafe(sock.close(), loop).result(timeout=5)
                except Exception:  # already closed, or the loop is gone
                    pass
            try:
                loop.call_soon_threadsafe(_cancel_all, loop)
            except RuntimeError:  # the loop closed meanwhile
                pass
        self.thread.join(10)
        assert not self.thread.is_alive(), f"the websocket thread of {self.name} did not stop"


@pytest.fixture
def listen():
    """listen(driver, name, websocket_cls=...): a started Listener, stopped at teardown."""
    started = []

    def make(driver, name, websocket_cls=_RecordingDriverWebsocket):
        listener = Listener(driver, websocket_cls, name).start()
        started.append(listener)
        return listener

    yield make
    for listener in started:
        listener.stop()


# --------------------------------------------------------------------------
# the world: admin, alice, bob, carol; a team; a public channel (all three) and
# a private one (alice and bob)


@pytest.fixture(scope="module")
def world():
    login_id = os.environ.get("STARLING_ADMIN_LOGIN")
    if login_id:
        admin, _ = login(login_id, os.environ["STARLING_ADMIN_PASSWORD"])
    else:
        name = unique("wsadmin")
        new_driver().users.create_user(
            {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        )
        admin, me = login(name)
        assert "system_admin" in me["roles"].split(), (
            f"the first user is not system admin ({me['roles']!r}): is the database empty?"
        )
    users = {}
    for who in ("alice", "bob", "carol"):
        name = unique(who)
        user = admin.users.create_user(
            {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        )
        driver, _ = login(name)
        users[who] = {"user": user, "id": user["id"], "name": name, "driver": driver}
    alice = users["alice"]["driver"]
    team = alice.teams.create_team(
        {"name": unique("team-"), "display_name": "Websocket team", "type": "O"}
    )
    for who in ("bob", "carol"):
        alice.teams.add_user_to_team(team["id"], {"team_id": team["id"], "user_id": users[who]["id"]})
    channels = {}
    for kind, ctype in (("open", "O"), ("private", "P")):
        name = unique(f"ws-{kind}-")
        channels[kind] = alice.channels.create_channel(
            {"team_id": team["id"], "name": name, "display_name": f"ws {kind} {name}", "type": ctype}
        )
    for kind, who in (("open", "bob"), ("open", "carol"), ("private", "bob")):
        alice.channels.add_user(channels[kind]["id"], {"user_id": users[who]["id"]})
    return {"admin": admin, "users": users, "team": team, "channels": channels}


# --------------------------------------------------------------------------
# checks


def assert_hello_first(listener):
    """The first event is hello with seq 0 and a connection id; return it."""
    hello = listener.wait_hello()
    first = listener.events()[0]
    assert first.get("event") == "hello", f"the first event is not hello: {first}"
    assert first.get("seq") == 0, f"hello has seq {first.get('seq')!r}, not 0: {first}"
    data = first.get("data") or {}
    assert ID_RE.match(str(data.get("connection_id", ""))), f"hello without a connection_id: {first}"
    assert "server_hostname" in data, f"hello without server_hostname: {first}"
    return hello


def assert_challenge_accepted(listener):
    """Both drivers authenticate with {"seq": 1, "action": "authentication_challenge"}:
    Mattermost answers {"status": "OK", "seq_reply": 1}."""
    reply = listener.wait_for(lambda m: m.get("seq_reply") == 1, "reply to the authentication_challenge")
    assert reply.get("status") == "OK", f"the challenge was refused: {reply}"


def assert_contiguous(listener):
    seqs = [e.get("seq") for e in listener.events()]
    assert seqs == list(range(len(seqs))), f"event seq is not 0, 1, 2, ...: {seqs}"


def decoded_post(event):
    raw = (event.get("data") or {}).get("post")
    assert isinstance(raw, str), f"data.post is not a JSON string: {event}"
    return json.loads(raw)


def assert_same_post(got, created):
    for key in ("id", "create_at", "update_at", "edit_at", "delete_at", "user_id", "channel_id",
                "root_id", "message", "type", "props"):
        if key in created:
            assert got.get(key) == created[key], (
                f"post {key}: websocket {got.get(key)!r} != REST {created[key]!r}\n"
                f"  websocket: {got}\n  REST: {created}"
            )


def posted_with(post_id):
    return lambda m: decoded_post(m).get("id") == post_id


# --------------------------------------------------------------------------
# the tests


def test_mattermostdriver_gets_hello_then_posted(world, listen):
    users, channel = world["users"], world["channels"]["open"]
    bob = listen(users["bob"]["driver"], "bob")
    assert_hello_first(bob)
    assert_challenge_accepted(bob)

    message = "hello websocket " + secrets.token_hex(4)
    created = users["alice"]["driver"].posts.create_post(
        {"channel_id": channel["id"], "message": message}
    )
    event = bob.wait_event("posted", posted_with(created["id"]))

    assert_same_post(decoded_post(event), created)
    data = event["data"]
    assert data.get("channel_type") == "O", event
    assert data.get("channel_name") == channel["name"], event
    assert data.get("channel_display_name") == channel["display_name"], event
    assert data.get("sender_name") in (f"@{users['alice']['name']}", users["alice"]["name"]), event
    assert data.get("team_id") == world["team"]["id"], event
    assert (event.get("broadcast") or {}).get("channel_id") == channel["id"], event
    assert isinstance(event.get("seq"), int) and event["seq"] > 0, event
    assert_contiguous(bob)


def test_mattermostdriver_gets_edits_and_deletes(world, listen):
    users, channel = world["users"], world["channels"]["open"]
    alice = users["alice"]["driver"]
    carol = listen(users["carol"]["driver"], "carol")
    assert_hello_first(carol)

    created = alice.posts.create_post({"channel_id": channel["id"], "message": "to edit"})
    carol.wait_event("posted", posted_with(created["id"]))

    edited = alice.posts.patch_post(created["id"], {"message": "edited " + secrets.token_hex(3)})
    event = carol.wait_event("post_edited", posted_with(created["id"]))
    got = decoded_post(event)
    assert got.get("message") == edited["message"], f"post_edited carries {got}, REST says {edited}"
    assert got.get("edit_at", 0) > 0, f"post_edited without edit_at: {got}"

    alice.posts.delete_post(created["id"])
    event = carol.wait_event("post_deleted", posted_with(created["id"]))
    assert decoded_post(event).get("channel_id") == channel["id"], event
    assert_contiguous(carol)


def test_no_events_from_a_channel_not_joined(world, listen):
    """carol is in the team and the public channel, not in the private one."""
    users, channels = world["users"], world["channels"]
    alice = users["alice"]["driver"]
    carol = listen(users["carol"]["driver"], "carol")
    assert_hello_first(carol)

    secret = alice.posts.create_post({"channel_id": channels["private"]["id"], "message": "not for carol"})
    public = alice.posts.create_post({"channel_id": channels["open"]["id"], "message": "for carol"})
    carol.wait_event("posted", posted_with(public["id"]))
    time.sleep(QUIET)
    leaked = [e for e in carol.events() if secret["id"] in json.dumps(e)]
    assert not leaked, f"carol received events of a channel she is not in: {leaked}"
    assert_contiguous(carol)


def test_two_connections_of_one_user_each_get_hello_and_posted(world, listen):
    users, channel = world["users"], world["channels"]["open"]
    first = listen(users["bob"]["driver"], "bob-1")
    second = listen(login(users["bob"]["name"])[0], "bob-2")  # a second session
    ids = {assert_hello_first(l)["data"]["connection_id"] for l in (first, second)}
    assert len(ids) == 2, "two connections got the same connection_id"

    created = users["alice"]["driver"].posts.create_post(
        {"channel_id": channel["id"], "message": "to both " + secrets.token_hex(3)}
    )
    for listener in (first, second):
        assert_same_post(decoded_post(listener.wait_event("posted", posted_with(created["id"]))), created)
        assert_contiguous(listener)


def test_mattermostdriver_keepalive_frames_are_answered(world, listen):
    """websockets pings (here every 0.5 s, closing the socket when a pong takes
    over 2 s) and mattermostdriver sends an unsolicited pong after each second
    without a frame: the connection must survive both and still get events."""
    users, channel = world["users"], world["channels"]["open"]
    driver, _ = login(
        users["bob"]["name"], timeout=1, websocket_kw_args={"ping_interval": 0.5, "ping_timeout": 2}
    )
    bob = listen(driver, "bob-keepalive")
    assert_hello_first(bob)
    time.sleep(4)
    assert bob.finished is None, f"the connection ended while idle. {bob.describe()}"
    assert driver.websocket.socket.latency > 0, "no ping frame was answered with a pong"

    created = users["alice"]["driver"].posts.create_post(
        {"channel_id": channel["id"], "message": "after idling " + secrets.token_hex(3)}
    )
    assert_same_post(decoded_post(bob.wait_event("posted", posted_with(created["id"]))), created)
    assert_contiguous(bob)


def test_mattermostautodriver_gets_hello_then_posted(world, listen):
    from mattermostautodriver import TypedDriver

    if BASEPATH != "/api/v4":
        pytest.skip("mattermostautodriver only talks to servers at the root path")
    users, channel = world["users"], world["channels"]["open"]
    driver = TypedDriver({
        "scheme": SCHEME,
        "url": HOST,
        "port": PORT,
        "login_id": users["bob"]["name"],
        "password": PASSWORD,
        "request_timeout": TIMEOUT,
        "max_retries": 0,
        "timeout": 1,  # an unsolicited pong after each second without a frame
        "websocket_kw_args": {"heartbeat": 1.0},  # aiohttp pings, closing when no pong comes in 0.5 s
    })
    try:
        driver.login()
        bob = listen(driver, "bob-autodriver", websocket_cls=_recording_autodriver_websocket())
        assert_hello_first(bob)
        assert_challenge_accepted(bob)
        time.sleep(3)
        assert bob.finished is None, f"the connection ended while idle. {bob.describe()}"

        created = users["alice"]["driver"].posts.create_post(
            {"channel_id": channel["id"], "message": "autodriver ws " + secrets.token_hex(3)}
        )
        event = bob.wait_event("posted", posted_with(created["id"]))
        assert_same_post(decoded_post(event), created)
        assert_contiguous(bob)
    finally:
        driver.close()
