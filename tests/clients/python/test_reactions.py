"""Reactions, pinned and saved posts, and custom emoji through mattermostdriver.

Runs against its own server on an empty database (tests/clients/run starts it
with ServiceSettings.EnableCustomEmoji on): the first user made here is the
system admin, the others are plain users.
"""

import struct

import pytest
from mattermostdriver.exceptions import (
    InvalidOrMissingParameters,
    NotEnoughPermissions,
    ResourceNotFound,
)

from test_rest_flow import sign_up_all, unique


def png(width, height):
    """A PNG header: the server checks an emoji image's header, not its pixels."""
    return (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
        + struct.pack(">II", width, height)
        + b"\x08\x06\x00\x00\x00\x00\x00\x00\x00"
    )


@pytest.fixture(scope="module")
def world():
    """An admin, alice and bob (plain users) in one team; alice's post in its town square."""
    people = sign_up_all(("admin", "alice", "bob", "carol"))
    alice = people["alice"]["driver"]
    team = alice.teams.create_team({"name": unique("t"), "display_name": "Reactions", "type": "O"})
    for who in ("bob", "carol"):
        alice.teams.add_user_to_team(team["id"], {"team_id": team["id"], "user_id": people[who]["me"]["id"]})
    town = alice.channels.get_channel_by_name(team["id"], "town-square")
    private = alice.channels.create_channel(
        {"team_id": team["id"], "name": unique("p"), "display_name": "Private", "type": "P"}
    )
    post = alice.posts.create_post({"channel_id": town["id"], "message": "react :py_parrot:"})
    secret = alice.posts.create_post({"channel_id": private["id"], "message": "members only"})
    return {**people, "team": team, "town": town, "post": post, "secret": secret}


def test_reactions_are_added_listed_and_removed(world):
    bob, bob_id = world["bob"]["driver"], world["bob"]["me"]["id"]
    post_id = world["post"]["id"]
    r = bob.reactions.create_reaction({"user_id": bob_id, "post_id": post_id, "emoji_name": "tada"})
    assert r["emoji_name"] == "tada" and r["channel_id"] == world["town"]["id"]
    listed = world["alice"]["driver"].reactions.get_reactions_of_post(post_id)
    assert [x["user_id"] for x in listed] == [bob_id]
    got = world["alice"]["driver"].posts.get_post(post_id)
    assert got["has_reactions"] is True
    assert got["metadata"]["reactions"][0]["emoji_name"] == "tada"
    with pytest.raises(InvalidOrMissingParameters):
        bob.reactions.create_reaction({"user_id": bob_id, "post_id": post_id, "emoji_name": "not valid"})
    with pytest.raises(NotEnoughPermissions):
        bob.reactions.create_reaction({"user_id": world["alice"]["me"]["id"], "post_id": post_id, "emoji_name": "x"})
    with pytest.raises(NotEnoughPermissions):
        world["carol"]["driver"].reactions.create_reaction(
            {"user_id": world["carol"]["me"]["id"], "post_id": world["secret"]["id"], "emoji_name": "x"}
        )
    bob.reactions.delete_reaction(bob_id, post_id, "tada")
    assert world["alice"]["driver"].reactions.get_reactions_of_post(post_id) == []


def test_pins_and_saved_posts(world):
    bob, bob_id = world["bob"]["driver"], world["bob"]["me"]["id"]
    post_id, town_id = world["post"]["id"], world["town"]["id"]
    bob.posts.pin_post_to_channel(post_id)
    assert bob.channels.get_channel_pinned_posts(town_id)["order"] == [post_id]
    assert bob.posts.get_post(post_id)["is_pinned"] is True
    bob.posts.unpin_post_to_channel(post_id)
    assert bob.channels.get_channel_pinned_posts(town_id)["order"] == []
    with pytest.raises(NotEnoughPermissions):
        world["carol"]["driver"].posts.pin_post_to_channel(world["secret"]["id"])

    pref = {"user_id": bob_id, "category": "flagged_post", "name": post_id, "value": "true"}
    bob.preferences.save_user_preferences(bob_id, [pref])
    assert bob.posts.get_list_of_flagged_posts(bob_id)["order"] == [post_id]
    bob.preferences.delete_user_preferences(bob_id, [pref])
    assert bob.posts.get_list_of_flagged_posts(bob_id)["order"] == []
    with pytest.raises(NotEnoughPermissions):
        world["carol"]["driver"].posts.get_list_of_flagged_posts(bob_id)


def test_custom_emoji(world):
    alice, bob = world["alice"]["driver"], world["bob"]["driver"]
    image = png(40, 40)
    emoji = alice.emoji.create_custom_emoji("py_parrot", {"image": ("parrot.png", image, "image/png")})
    assert emoji["name"] == "py_parrot" and emoji["creator_id"] == world["alice"]["me"]["id"]
    assert bob.emoji.get_custom_emoji_by_name("py_parrot")["id"] == emoji["id"]
    assert bob.emoji.get_custom_emoji(emoji["id"])["name"] == "py_parrot"
    assert [e["name"] for e in bob.emoji.get_emoji_list({"sort": "name"})] == ["py_parrot"]
    assert bob.emoji.get_custom_emoji_image(emoji["id"]).content == image
    assert [e["id"] for e in bob.emoji.search_custom_emoji({"term": "parrot"})] == [emoji["id"]]
    assert [e["id"] for e in bob.emoji.autocomplete_custom_emoji({"name": "py_"})] == [emoji["id"]]
    # The post that names it carries it in its metadata.
    got = bob.posts.get_post(world["post"]["id"])
    assert [e["name"] for e in got["metadata"]["emojis"]] == ["py_parrot"]
    with pytest.raises(InvalidOrMissingParameters):
        alice.emoji.create_custom_emoji("py_parrot", {"image": ("again.png", png(8, 8), "image/png")})
    with pytest.raises(InvalidOrMissingParameters):
        alice.emoji.create_custom_emoji("heart", {"image": ("heart.png", png(8, 8), "image/png")})
    with pytest.raises(InvalidOrMissingParameters):
        alice.emoji.create_custom_emoji("text", {"image": ("a.txt", b"not an image", "text/plain")})
    with pytest.raises(NotEnoughPermissions):
        bob.emoji.delete_custom_emoji(emoji["id"])
    alice.emoji.delete_custom_emoji(emoji["id"])
    with pytest.raises(ResourceNotFound):
        bob.emoji.get_custom_emoji(emoji["id"])
