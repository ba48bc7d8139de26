"""Incoming webhooks, bots and personal access tokens through third-party Python tools.

- matterhook (a webhook sender from PyPI, unchanged) posts through an incoming webhook.
- A bot built on mattermostdriver signs in with a bot's personal access token, hears a
  message on the websocket and answers it in a thread.

mmpy_bot (a bot framework) was the first choice for the bot, but mmpy_bot 2.2.1 needs
httpx<0.28 and mattermostautodriver 2.x, which cannot be installed next to the
mattermostautodriver 11.x the other suites pin; so the bot uses mattermostdriver directly.

Runs against its own server on an empty database: the first user made here is the system
admin, who turns on ServiceSettings.EnableUserAccessTokens and EnableBotAccountCreation
through the config API. Every wait is bounded.
"""

import asyncio
import json
import threading
import time

import pytest
from matterhook import Attachment, Webhook
from mattermostdriver.exceptions import NoAccessTokenProvided, NotEnoughPermissions

from test_rest_flow import URL, new_driver, sign_up_all, unique

WAIT = 15  # seconds, for every wait


@pytest.fixture(scope="module")
def world():
    people = sign_up_all(("admin", "alice"))
    admin = people["admin"]["driver"]
    admin.client.put(
        "/config/patch",
        options={"ServiceSettings": {"EnableUserAccessTokens": True, "EnableBotAccountCreation": True}},
    )
    team = admin.teams.create_team({"name": unique("t"), "display_name": "Integrations", "type": "O"})
    admin.teams.add_user_to_team(team["id"], {"team_id": team["id"], "user_id": people["alice"]["me"]["id"]})
    town = admin.channels.get_channel_by_name(team["id"], "town-square")
    return {**people, "team": team, "town": town}


def wait_until(condition, what):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"no {what} within {WAIT} s")


def newest_post(driver, channel_id):
    posts = driver.posts.get_posts_for_channel(channel_id)
    return posts["posts"][posts["order"][0]]


def test_matterhook_posts_through_an_incoming_webhook(world):
    admin, town = world["admin"]["driver"], world["town"]
    hook = admin.webhooks.create_incoming_hook({"channel_id": town["id"], "display_name": "matterhook"})
    sender = Webhook(URL, hook["id"])
    sender.send("deployed :rocket:")
    post = newest_post(admin, town["id"])
    assert post["message"] == "deployed :rocket:"
    assert post["user_id"] == world["admin"]["me"]["id"]
    assert post["props"]["from_webhook"] == "true"

    card = Attachment(fallback="build 7", title="Build 7", text="green")
    sender.send("with a card", attachments=[card.payload])
    post = newest_post(admin, town["id"])
    assert post["props"]["attachments"][0]["title"] == "Build 7"

    # To a direct message with alice, by @username.
    alice = world["alice"]
    sender.send("psst", channel="@" + alice["me"]["username"])
    dm = alice["driver"].channels.create_direct_message_channel([alice["me"]["id"], world["admin"]["me"]["id"]])
    assert newest_post(alice["driver"], dm["id"])["message"] == "psst"

    # An unknown hook is refused, and matterhook says so.
    with pytest.raises(Exception) as refused:
        Webhook(URL, "a" * 26).send("nobody")
    assert "web.incoming_webhook.invalid.app_error" in str(refused.value)


class EchoBot:
    """A bot on mattermostdriver: answers every message containing 'ping' in its thread."""

    def __init__(self, driver, me):
        self.driver = driver
        self.me = me
        self.answered = []
        self.loop = None
        self.thread = threading.Thread(target=self._run, name="echo-bot", daemon=True)

    def _answer(self, post):
        reply = self.driver.posts.create_post(
            {"channel_id": post["channel_id"], "root_id": post["id"], "message": "pong"}
        )
        self.answered.append(reply)

    async def _handle(self, message):
        event = json.loads(message)
        if event.get("event") != "posted":
            return
        post = json.loads(event["data"]["post"])
        if post["user_id"] != self.me["id"] and "ping" in post["message"]:
            await asyncio.get_running_loop().run_in_executor(None, self._answer, post)

    def _run(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.driver.init_websocket(self._handle)
        except BaseException:  # cancelled when stopped
            pass

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        if self.driver.websocket is not None:
            self.driver.websocket.disconnect()
        if self.loop is not None:
            self.loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(self.loop)])
        self.thread.join(timeout=WAIT)


def test_a_bot_signs_in_with_its_token_and_answers_in_a_thread(world):
    admin, team, town = world["admin"]["driver"], world["team"], world["town"]
    # mattermostdriver 7.3.2 has no bots endpoints: its client makes the request.
    bot = admin.client.post("/bots", options={"username": unique("echo"), "display_name": "Echo"})
    admin.teams.add_user_to_team(team["id"], {"team_id": team["id"], "user_id": bot["user_id"]})
    admin.channels.add_user(town["id"], {"user_id": bot["user_id"]})
    token = admin.users.create_user_access_token(bot["user_id"], {"description": "echo bot"})

    driver = new_driver(token=token["token"], timeout=5, keepalive=False)
    me = driver.login()
    assert me["id"] == bot["user_id"] and me["is_bot"] is True
    echo = EchoBot(driver, me).start()
    try:
        alice = world["alice"]["driver"]

        # The bot is listening once a message it can hear is answered; send until one is.
        def asked_and_answered():
            asked = alice.posts.create_post({"channel_id": town["id"], "message": "ping?"})
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                thread = alice.posts.get_thread(asked["id"])
                replies = [p for p in thread["posts"].values() if p["root_id"] == asked["id"]]
                if replies:
                    return replies
                time.sleep(0.2)
            return None

        replies = wait_until(asked_and_answered, "answer from the bot")
        assert replies[0]["message"] == "pong"
        assert replies[0]["user_id"] == bot["user_id"]
    finally:
        echo.stop()

    # Revoked: the bot's token is refused.
    admin.client.post("/users/tokens/revoke", options={"token_id": token["id"]})
    with pytest.raises(NoAccessTokenProvided):
        driver.users.get_user("me")


def test_tokens_need_their_permissions(world):
    alice = world["alice"]
    with pytest.raises(NotEnoughPermissions):
        alice["driver"].users.create_user_access_token(alice["me"]["id"], {"description": "mine"})
