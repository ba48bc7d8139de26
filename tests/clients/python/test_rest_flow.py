"""A full REST flow against a running Starling, driven by the real Python clients.

mattermostdriver 7.3.2 does most of the work; mattermostautodriver 11.x runs a
smaller flow at the end. Set STARLING_URL (e.g. http://127.0.0.1:18065) to a
server whose database is empty: the first user created here must become
system admin. To run against a server that already has users, set
STARLING_ADMIN_LOGIN and STARLING_ADMIN_PASSWORD to an existing admin instead.

The tests run in file order and share module-scoped fixtures (users, team,
channels, a thread): a fixture that fails shows up as an error in every test
that needs it.
"""

import os
import re
import secrets
import time
from urllib.parse import urlsplit

import pytest
import requests
from mattermostdriver import Driver
from mattermostdriver.exceptions import (
    InvalidOrMissingParameters,
    NoAccessTokenProvided,
    NotEnoughPermissions,
)

URL = os.environ.get("STARLING_URL", "").rstrip("/")
if not URL:
    pytest.skip("STARLING_URL is not set", allow_module_level=True)

_SPLIT = urlsplit(URL)
SCHEME = _SPLIT.scheme or "http"
HOST = _SPLIT.hostname or "127.0.0.1"
PORT = _SPLIT.port or (443 if SCHEME == "https" else 80)
BASEPATH = _SPLIT.path.rstrip("/") + "/api/v4"
API = f"{SCHEME}://{_SPLIT.netloc}{BASEPATH}"
TIMEOUT = 30  # seconds, for every request: nothing here may hang

ID_RE = re.compile(r"^[a-z0-9]{26}$")
ID_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"
PASSWORD = "Starling-" + secrets.token_hex(8)
ERROR_KEYS = {"id", "message", "detailed_error", "request_id", "status_code"}


def now_ms():
    return int(time.time() * 1000)


def unique(prefix):
    """A name no earlier run used: lowercase, starts with a letter."""
    return f"{prefix}{secrets.token_hex(5)}"


def random_id():
    """A well-formed id that names nothing: 26 characters of the alphabet
    Mattermost (and Starling) make ids from."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(26))


def new_driver(**options):
    opts = {
        "scheme": SCHEME,
        "url": HOST,
        "port": PORT,
        "basepath": BASEPATH,
        "verify": True,
        "request_timeout": TIMEOUT,
    }
    opts.update(options)
    return Driver(opts)


def login(username, password=PASSWORD):
    driver = new_driver(login_id=username, password=password)
    me = driver.login()
    return driver, me


def sign_up_all(roles):
    """Sign up and log in one user per role, in order: {role: {"driver", "me"}}. The first one
    made on an empty database is the system admin, and makes the others."""
    people = {}
    maker = new_driver()  # anonymous for the first user
    for who in roles:
        name = unique(who)
        maker.users.create_user({"username": name, "email": f"{name}@example.com", "password": PASSWORD})
        driver, me = login(name)
        people[who] = {"driver": driver, "me": me}
        if len(people) == 1:
            maker = driver
    return people


def assert_recent(ms, what):
    """A timestamp in milliseconds, within ten minutes of this machine's clock."""
    assert isinstance(ms, int), f"{what} is not an integer: {ms!r}"
    assert abs(ms - now_ms()) < 10 * 60 * 1000, f"{what}={ms} is not a recent time in ms"


def roles_of(obj):
    return set(obj["roles"].split())


def post_ids(post_list):
    return list(post_list["order"])


def assert_newest_first(post_list):
    order = post_list["order"]
    posts = post_list["posts"]
    assert set(order) <= set(posts), "every id in order must have its post in posts"
    stamps = [posts[pid]["create_at"] for pid in order]
    assert stamps == sorted(stamps, reverse=True), f"order is not newest first: {stamps}"


# --------------------------------------------------------------------------
# fixtures: the world the flow builds, step by step


@pytest.fixture(scope="module")
def admin():
    login_id = os.environ.get("STARLING_ADMIN_LOGIN")
    if login_id:
        driver, me = login(login_id, os.environ["STARLING_ADMIN_PASSWORD"])
        return {"driver": driver, "user": me, "created": False}
    name = unique("admin")
    user = new_driver().users.create_user(
        {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    )
    driver, me = login(name)
    return {"driver": driver, "user": user, "me": me, "created": True}


@pytest.fixture(scope="module")
def users(admin):
    """alice, bob and carol: plain users created by the admin, each logged in."""
    out = {}
    for who in ("alice", "bob", "carol"):
        name = unique(who)
        user = admin["driver"].users.create_user(
            {"username": name, "email": f"{name}@Example.com", "password": PASSWORD}
        )
        driver, me = login(name)
        out[who] = {"user": user, "driver": driver, "me": me, "name": name}
    return out


@pytest.fixture(scope="module")
def team(users):
    alice = users["alice"]["driver"]
    name = unique("team-")
    created = alice.teams.create_team(
        {"name": name, "display_name": f"Team {name}", "type": "O"}
    )
    members = {}
    for who in ("bob", "carol"):
        members[who] = alice.teams.add_user_to_team(
            created["id"], {"team_id": created["id"], "user_id": users[who]["user"]["id"]}
        )
    return {"team": created, "name": name, "members": members}


@pytest.fixture(scope="module")
def channels(users, team):
    """A public channel (alice, bob, carol) and a private one (alice, bob)."""
    alice = users["alice"]["driver"]
    team_id = team["team"]["id"]
    out = {"members": {}}
    for kind, ctype in (("open", "O"), ("private", "P")):
        name = unique(f"{kind}-")
        out[kind] = alice.channels.create_channel(
            {"team_id": team_id, "name": name, "display_name": f"{kind} {name}", "type": ctype}
        )
        out[kind + "_name"] = name
    joins = (("open", "bob"), ("open", "carol"), ("private", "bob"))
    for kind, who in joins:
        out["members"][(kind, who)] = alice.channels.add_user(
            out[kind]["id"], {"user_id": users[who]["user"]["id"]}
        )
    return out


@pytest.fixture(scope="module")
def thread(users, channels):
    """A root post by alice in the public channel and a reply by bob."""
    channel_id = channels["open"]["id"]
    root_msg = "root " + secrets.token_hex(4)
    reply_msg = "reply " + secrets.token_hex(4)
    root = users["alice"]["driver"].posts.create_post(
        {"channel_id": channel_id, "message": root_msg}
    )
    reply = users["bob"]["driver"].posts.create_post(
        {"channel_id": channel_id, "message": reply_msg, "root_id": root["id"]}
    )
    return {"root": root, "reply": reply, "root_msg": root_msg, "reply_msg": reply_msg}


# --------------------------------------------------------------------------
# the flow


def test_ping_is_json_ok():
    # mattermostdriver returns a dict only when Content-Type is exactly application/json
    result = new_driver().system.check_system_health()
    assert isinstance(result, dict), f"ping did not answer application/json: {result!r}"
    assert result.get("status") == "OK"


def test_first_user_is_system_admin(admin):
    if not admin["created"]:
        pytest.skip("running against an existing admin")
    user = admin["user"]
    assert ID_RE.match(user["id"])
    assert {"system_admin", "system_user"} <= roles_of(user)
    assert not user.get("password"), "the create-user response exposed the password"
    assert admin["me"]["id"] == user["id"]


def test_created_users_are_plain_users(users):
    ids = set()
    for who, entry in users.items():
        user = entry["user"]
        assert ID_RE.match(user["id"]), user
        ids.add(user["id"])
        assert user["username"] == entry["name"]
        assert user["email"].lower() == f"{entry['name']}@example.com"
        assert_recent(user["create_at"], f"{who}.create_at")
        assert user["update_at"] >= user["create_at"]
        assert user["delete_at"] == 0
        assert roles_of(user) == {"system_user"}, f"{who} roles: {user['roles']!r}"
        assert not user.get("password"), f"{who}: the response exposed the password"
    assert len(ids) == 3


def test_login_gives_token_and_user(users):
    tokens = set()
    for who, entry in users.items():
        driver = entry["driver"]
        assert driver.client.token, f"{who}: login answered without a Token header"
        tokens.add(driver.client.token)
        assert entry["me"]["id"] == entry["user"]["id"]
        assert entry["me"]["username"] == entry["name"]
        assert not entry["me"].get("password")
        me = driver.users.get_user("me")
        assert me["id"] == entry["user"]["id"]
    assert len(tokens) == 3, "each login must get its own token"


def test_token_option_and_user_lookup(users):
    alice, bob = users["alice"], users["bob"]
    # Driver(token=...).login() authenticates with the bearer token alone (GET /users/me)
    by_token = new_driver(token=alice["driver"].client.token)
    me = by_token.login()
    assert me["id"] == alice["user"]["id"]
    other = alice["driver"].users.get_user(bob["user"]["id"])
    assert other["id"] == bob["user"]["id"]
    assert other["username"] == bob["name"]
    assert not other.get("password")


def test_bad_credentials_and_missing_token(users):
    with pytest.raises(NoAccessTokenProvided):
        login(users["alice"]["name"], "not-the-password")
    with pytest.raises(NoAccessTokenProvided):
        new_driver().users.get_user("me")


def test_duplicate_username_is_rejected(admin, users):
    name = users["alice"]["name"]
    with pytest.raises(InvalidOrMissingParameters):
        admin["driver"].users.create_user(
            {"username": name, "email": f"other-{name}@example.com", "password": PASSWORD}
        )


def test_team_created(users, team):
    created = team["team"]
    assert ID_RE.match(created["id"])
    assert created["name"] == team["name"]
    assert created["display_name"] == f"Team {team['name']}"
    assert created["type"] == "O"
    assert created["delete_at"] == 0
    assert_recent(created["create_at"], "team.create_at")


def test_team_members_added(users, team):
    for who, member in team["members"].items():
        assert member["team_id"] == team["team"]["id"]
        assert member["user_id"] == users[who]["user"]["id"]
        assert "team_user" in roles_of(member), member
        assert "team_admin" not in roles_of(member), member
        assert member["delete_at"] == 0
        assert member["scheme_user"] is True
        assert member["scheme_admin"] is False


def test_channels_created(users, team, channels):
    for kind, ctype in (("open", "O"), ("private", "P")):
        channel = channels[kind]
        assert ID_RE.match(channel["id"])
        assert channel["team_id"] == team["team"]["id"]
        assert channel["type"] == ctype
        assert channel["name"] == channels[kind + "_name"]
        assert channel["display_name"] == f"{kind} {channels[kind + '_name']}"
        assert channel["creator_id"] == users["alice"]["user"]["id"]
        assert channel["delete_at"] == 0
    assert channels["open"]["id"] != channels["private"]["id"]


def test_channel_members_added(users, channels):
    for (kind, who), member in channels["members"].items():
        assert member["channel_id"] == channels[kind]["id"]
        assert member["user_id"] == users[who]["user"]["id"]
        assert "channel_user" in roles_of(member), member
        for key in ("last_viewed_at", "msg_count", "mention_count"):
            assert isinstance(member[key], int), f"{key}: {member.get(key)!r}"
        assert isinstance(member["notify_props"], dict)


def test_post_and_reply(users, channels, thread):
    root, reply = thread["root"], thread["reply"]
    channel_id = channels["open"]["id"]
    assert ID_RE.match(root["id"]) and ID_RE.match(reply["id"])
    assert root["id"] != reply["id"]
    assert root["message"] == thread["root_msg"]
    assert root["user_id"] == users["alice"]["user"]["id"]
    assert root["channel_id"] == channel_id
    assert root["root_id"] == ""
    assert root["type"] == ""
    assert root["edit_at"] == 0 and root["delete_at"] == 0
    assert isinstance(root["props"], dict)
    assert root.get("file_ids", []) == []
    assert_recent(root["create_at"], "post.create_at")
    assert root["update_at"] >= root["create_at"]
    assert reply["root_id"] == root["id"]
    assert reply["user_id"] == users["bob"]["user"]["id"]
    assert reply["message"] == thread["reply_msg"]
    assert reply["create_at"] >= root["create_at"]


def test_thread_has_root_and_reply(users, thread):
    # read by carol: a member of the channel who wrote neither post
    got = users["carol"]["driver"].posts.get_thread(thread["root"]["id"])
    root_id, reply_id = thread["root"]["id"], thread["reply"]["id"]
    assert set(got["order"]) == {root_id, reply_id}
    assert set(got["posts"]) == {root_id, reply_id}
    assert got["posts"][root_id]["message"] == thread["root_msg"]
    assert got["posts"][reply_id]["message"] == thread["reply_msg"]
    assert got["posts"][reply_id]["root_id"] == root_id
    assert got["posts"][root_id]["reply_count"] == 1


def test_channel_posts_paged_newest_first(users, channels, thread):
    driver = users["carol"]["driver"]
    channel_id = channels["open"]["id"]
    root_id, reply_id = thread["root"]["id"], thread["reply"]["id"]
    page = driver.posts.get_posts_for_channel(channel_id, params={"page": 0, "per_page": 60})
    assert {root_id, reply_id} <= set(page["order"])
    assert_newest_first(page)
    for key in ("next_post_id", "prev_post_id"):
        assert isinstance(page[key], str), f"PostList without {key}: {sorted(page)}"
    for pid in page["order"]:
        assert page["posts"][pid]["channel_id"] == channel_id
    # one per page: the reply is the newest post, the root the one before it
    first = driver.posts.get_posts_for_channel(channel_id, params={"page": 0, "per_page": 1})
    assert first["order"] == [reply_id]
    second = driver.posts.get_posts_for_channel(channel_id, params={"page": 1, "per_page": 1})
    assert second["order"] == [root_id]


def test_posts_since_is_exclusive_and_sees_new_posts(users, channels, thread):
    alice, bob = users["alice"]["driver"], users["bob"]["driver"]
    channel_id = channels["open"]["id"]
    root_id, reply_id = thread["root"]["id"], thread["reply"]["id"]

    before = bob.posts.get_posts_for_channel(channel_id, params={"per_page": 200})
    since = max(p["update_at"] for p in before["posts"].values())
    nothing = bob.posts.get_posts_for_channel(channel_id, params={"since": since})
    assert post_ids(nothing) == [], (
        f"since={since} is exclusive: nothing changed after it, got {post_ids(nothing)}"
    )

    reply2 = bob.posts.create_post(
        {"channel_id": channel_id, "message": "second reply", "root_id": root_id}
    )
    newer = alice.posts.create_post({"channel_id": channel_id, "message": "a new root"})
    got = alice.posts.get_posts_for_channel(channel_id, params={"since": since})
    ids = set(got["order"])
    assert {reply2["id"], newer["id"]} <= ids, f"new posts missing from since={since}: {ids}"
    # a reply bumps its root's update_at, so the root comes back too
    assert root_id in ids, "a root that got a reply must be returned by since"
    assert got["posts"][root_id]["update_at"] > since
    assert reply_id not in ids, "an unchanged older reply must not be returned by since"
    for pid in got["order"]:
        assert got["posts"][pid]["update_at"] > since
    assert_newest_first(got)
    assert got["order"][0] == newer["id"]


def test_file_upload_download_and_info(users, channels):
    alice, bob = users["alice"]["driver"], users["bob"]["driver"]
    channel_id = channels["private"]["id"]
    name = f"starling-{secrets.token_hex(4)}.bin"
    blob = bytes(range(256)) + secrets.token_bytes(200_000) + b"\r\n\0end"

    uploaded = alice.files.upload_file(channel_id, files={"files": (name, blob)})
    infos = uploaded["file_infos"]
    assert len(infos) == 1, uploaded
    info = infos[0]
    file_id = info["id"]
    assert ID_RE.match(file_id)
    assert info["name"] == name
    assert info["size"] == len(blob)
    assert info["channel_id"] == channel_id
    assert info["mime_type"] == "application/octet-stream"
    assert info.get("post_id", "") == ""

    post = alice.posts.create_post(
        {"channel_id": channel_id, "message": "a file", "file_ids": [file_id]}
    )
    assert post["file_ids"] == [file_id]

    for who, driver in (("alice", alice), ("bob", bob)):
        response = driver.files.get_file(file_id)
        assert isinstance(response, requests.Response), f"{who}: got {type(response)}"
        assert response.status_code == 200
        assert response.content == blob, f"{who}: downloaded bytes differ from the upload"
        ctype = response.headers.get("Content-Type", "")
        assert ctype.startswith("application/octet-stream"), ctype
        assert name in response.headers.get("Content-Disposition", "")

    meta = bob.files.get_file_metadata(file_id)
    assert meta["id"] == file_id
    assert meta["name"] == name
    assert meta["size"] == len(blob)
    assert meta["post_id"] == post["id"]
    assert meta["channel_id"] == channel_id
    assert meta["user_id"] == users["alice"]["user"]["id"]

    carol = users["carol"]["driver"]
    with pytest.raises(NotEnoughPermissions):
        carol.files.get_file(file_id)
    with pytest.raises(NotEnoughPermissions):
        carol.files.get_file_metadata(file_id)


def test_private_channel_is_closed_to_non_members(users, channels):
    channel_id = channels["private"]["id"]
    secret = "private " + secrets.token_hex(4)
    post = users["bob"]["driver"].posts.create_post({"channel_id": channel_id, "message": secret})
    seen = users["alice"]["driver"].posts.get_posts_for_channel(channel_id)
    assert post["id"] in seen["order"]
    assert seen["posts"][post["id"]]["message"] == secret

    carol = users["carol"]["driver"]
    with pytest.raises(NotEnoughPermissions):
        carol.posts.get_posts_for_channel(channel_id)
    with pytest.raises(NotEnoughPermissions):
        carol.posts.get_thread(post["id"])
    with pytest.raises(NotEnoughPermissions):
        carol.posts.create_post({"channel_id": channel_id, "message": "let me in"})


def test_logout_revokes_only_that_session(users):
    alice = users["alice"]
    second, me = login(alice["name"])
    old_token = second.client.token
    assert old_token and old_token != alice["driver"].client.token

    result = second.logout()
    assert result == {"status": "OK"}
    assert second.client.token == ""

    with pytest.raises(NoAccessTokenProvided):
        new_driver(token=old_token).login()
    # the same, without the driver in the way: status and the error's JSON shape
    raw = requests.get(
        f"{API}/users/me", headers={"Authorization": f"Bearer {old_token}"}, timeout=TIMEOUT
    )
    assert raw.status_code == 401
    assert raw.headers.get("Content-Type") == "application/json"
    body = raw.json()
    assert ERROR_KEYS <= set(body), f"error body keys: {sorted(body)}"
    assert body["status_code"] == 401
    assert body["id"] and body["message"] and body["request_id"]

    # alice's first session is untouched
    assert alice["driver"].users.get_user("me")["id"] == alice["user"]["id"]


def test_mattermostautodriver_login_post_get(users, channels):
    from mattermostautodriver import TypedDriver
    from mattermostautodriver import exceptions as auto_exc

    bob = users["bob"]
    options = {
        "scheme": SCHEME,
        "url": HOST,
        "port": PORT,
        "login_id": bob["name"],
        "password": PASSWORD,
        "request_timeout": TIMEOUT,
        "max_retries": 0,  # report what the server answers, not what a retry hides
    }
    if BASEPATH != "/api/v4":
        pytest.skip("mattermostautodriver only talks to servers at the root path")
    driver = TypedDriver(options)
    try:
        ping = driver.system.get_ping(get_server_status=True, use_rest_semantics=True)
        assert ping["status"] == "OK"
        assert ping["database_status"] == "OK"
        assert ping["filestore_status"] == "OK"

        me = driver.login()
        assert me["id"] == bob["user"]["id"]
        assert driver.client.token

        message = "from autodriver " + secrets.token_hex(4)
        post = driver.posts.create_post(channel_id=channels["open"]["id"], message=message)
        assert ID_RE.match(post["id"])
        assert post["user_id"] == bob["user"]["id"]
        assert post["message"] == message

        got = driver.posts.get_post(post["id"])
        assert got["id"] == post["id"]
        assert got["message"] == message
        assert got["create_at"] == post["create_at"]
        assert got["channel_id"] == channels["open"]["id"]

        # autodriver only accepts errors with id, message and request_id
        with pytest.raises(auto_exc.ResourceNotFound) as missing:
            driver.posts.get_post(random_id())
        assert missing.value.status_code == 404
        assert missing.value.error_id and missing.value.request_id

        old_token = driver.client.token
        driver.logout()
        stale = TypedDriver({**options, "token": old_token})
        try:
            with pytest.raises(auto_exc.NoAccessTokenProvided) as denied:
                stale.users.get_user("me")
            assert denied.value.status_code == 401
            assert denied.value.request_id
        finally:
            stale.close()
    finally:
        driver.close()
