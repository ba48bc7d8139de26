"""Mentions and search through mattermostdriver: the @-mention and ~channel autocompletes and
post search with Mattermost's terms (hashtags, from:, in:, exclusions, prefixes, dates).

Runs against its own server on an empty database; the first user made here is the system admin.
"""

import datetime

import pytest
from mattermostdriver.exceptions import InvalidOrMissingParameters, NotEnoughPermissions

from test_rest_flow import sign_up_all, unique


@pytest.fixture(scope="module")
def world():
    """alice, bob and carol in a team; a channel with alice and bob only."""
    people = sign_up_all(("admin", "alice", "bob", "carol"))
    alice = people["alice"]["driver"]
    team = alice.teams.create_team({"name": unique("t"), "display_name": "Search", "type": "O"})
    for who in ("bob", "carol"):
        alice.teams.add_user_to_team(team["id"], {"team_id": team["id"], "user_id": people[who]["me"]["id"]})
    side = alice.channels.create_channel(
        {"team_id": team["id"], "name": unique("side"), "display_name": "Side Quest", "type": "O"}
    )
    alice.channels.add_user(side["id"], {"user_id": people["bob"]["me"]["id"]})
    return {**people, "team": team, "side": side}


def test_users_autocomplete_in_and_out_of_channel(world):
    bob = world["bob"]["driver"]
    carol = world["carol"]["me"]
    r = bob.users.autocomplete_users({"in_team": world["team"]["id"], "in_channel": world["side"]["id"], "name": carol["username"][:4]})
    assert r["users"] == []
    assert [u["id"] for u in r["out_of_channel"]] == [carol["id"]]
    r = bob.users.autocomplete_users({"in_team": world["team"]["id"], "name": carol["username"]})
    assert [u["id"] for u in r["users"]] == [carol["id"]]
    assert "out_of_channel" not in r
    # Carol may not read a private channel she is not in.
    private = world["alice"]["driver"].channels.create_channel(
        {"team_id": world["team"]["id"], "name": unique("p"), "display_name": "Private", "type": "P"}
    )
    with pytest.raises(NotEnoughPermissions):
        world["carol"]["driver"].users.autocomplete_users({"in_channel": private["id"], "name": "a"})
    with pytest.raises(InvalidOrMissingParameters):
        bob.users.autocomplete_users({"in_channel": "not-an-id", "name": "a"})


def test_channel_autocomplete(world):
    found = world["carol"]["driver"].channels.autocomplete_channels(world["team"]["id"], {"name": "quest"})
    assert [c["id"] for c in found] == [world["side"]["id"]]


def test_post_search_terms(world):
    alice, carol = world["alice"]["driver"], world["carol"]["driver"]
    team_id = world["team"]["id"]
    town = alice.channels.get_channel_by_name(team_id, "town-square")
    mine = alice.posts.create_post({"channel_id": world["side"]["id"], "message": "the #py-release notes are drafted"})
    theirs = carol.posts.create_post({"channel_id": town["id"], "message": "#py-release is on monday"})

    def search(terms, **extra):
        return world["bob"]["driver"].posts.search_for_team_posts(team_id, {"terms": terms, "is_or_search": False, **extra})["order"]

    assert search("#py-release") == [theirs["id"], mine["id"]]
    assert search(f"#py-release -from:{world['carol']['me']['username']}") == [mine["id"]]
    assert search(f"#py-release in:{town['name']}") == [theirs["id"]]
    assert search("draft*") == [mine["id"]]
    today = datetime.datetime.now(datetime.timezone.utc).date()
    assert search(f"#py-release on:{today.isoformat()}", time_zone_offset=0) == [theirs["id"], mine["id"]]
    assert search(f"#py-release before:{today.isoformat()}", time_zone_offset=0) == []
