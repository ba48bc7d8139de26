//! The websocket events the API publishes, in Mattermost's shapes, and the membership changes that
//! decide who receives them. Membership changes go through the same bus as events, so a user added
//! to a channel receives the `user_added` event that announces it.

use crate::store::{
    Category, Channel, ChannelMember, ChannelUnreadAt, Emoji, Post, Preference, Reaction, Team, TeamMember, User,
};
use actix::Addr;
use serde_json::json;
use starling_actors::{BusEvent, EventBus, MembershipChange, Publish};
use starling_protocol::{Broadcast, ChannelId, TeamId, UserId, WsEvent};

/// A cheap handle on the node's event bus.
#[derive(Clone)]
pub struct Events {
    bus: Addr<EventBus>,
}

fn to_channel(channel_id: &str) -> Broadcast {
    Broadcast { channel_id: channel_id.to_owned(), ..Default::default() }
}

fn to_user(user_id: &str) -> Broadcast {
    Broadcast { user_id: user_id.to_owned(), ..Default::default() }
}

fn to_user_in_team(user_id: &str, team_id: &str) -> Broadcast {
    Broadcast { user_id: user_id.to_owned(), team_id: team_id.to_owned(), ..Default::default() }
}

fn to_team(team_id: &str) -> Broadcast {
    Broadcast { team_id: team_id.to_owned(), ..Default::default() }
}

impl Events {
    pub fn new(bus: Addr<EventBus>) -> Self {
        Self { bus }
    }

    pub fn bus(&self) -> &Addr<EventBus> {
        &self.bus
    }

    /// Publish a websocket event (one of a handful per request: bounded by requests in flight).
    fn publish(&self, event: &str, data: serde_json::Value, broadcast: Broadcast) {
        self.bus.do_send(Publish::ws(WsEvent::new(event, data.to_string(), broadcast)));
    }

    /// A membership change, through the bus so it is ordered with the events around it.
    fn membership(&self, user_id: &str, change: MembershipChange) {
        self.bus.do_send(Publish::local(BusEvent::Membership { user_id: UserId::from(user_id), change }));
    }

    /// A plugin's own event, `custom_<plugin id>_<event>` (the plugin API's
    /// `publish_websocket_event`), to whom its broadcast names.
    pub fn plugin_event(&self, plugin_id: &str, event: &str, data: serde_json::Value, broadcast: Broadcast) {
        self.publish(&format!("custom_{plugin_id}_{event}"), data, broadcast);
    }

    /// The cluster's plugin statuses changed: `plugin_statuses_changed` to each system admin.
    pub fn plugin_statuses_changed(&self, admins: &[String], statuses: &serde_json::Value) {
        for admin in admins {
            self.publish("plugin_statuses_changed", json!({ "plugin_statuses": statuses }), to_user(admin));
        }
    }

    /// A new post. `mentioned` are the members whose mention count it raised: the clients raise
    /// their own badge when `data.mentions` (a JSON string of an array) holds their id.
    pub fn posted(&self, post: &Post, channel: &Channel, sender_name: &str, mentioned: &[String]) {
        let post_json = serde_json::to_string(post).unwrap_or_default();
        let mut data = json!({
            "channel_display_name": channel.display_name,
            "channel_name": channel.name,
            "channel_type": channel.channel_type,
            "post": post_json,
            "sender_name": format!("@{sender_name}"),
            "set_online": true,
            "team_id": channel.team_id,
        });
        if !mentioned.is_empty() {
            data["mentions"] = json!(serde_json::to_string(mentioned).unwrap_or_default());
        }
        self.publish("posted", data, to_channel(&channel.id));
    }

    pub fn post_edited(&self, post: &Post) {
        let post_json = serde_json::to_string(post).unwrap_or_default();
        self.publish("post_edited", json!({ "post": post_json }), to_channel(&post.channel_id));
    }

    pub fn post_deleted(&self, post: &Post, deleted_by: &str) {
        let post_json = serde_json::to_string(post).unwrap_or_default();
        self.publish(
            "post_deleted",
            json!({ "post": post_json, "delete_by": deleted_by }),
            to_channel(&post.channel_id),
        );
    }

    /// A reaction was added (`reaction` as a JSON string), to the post's channel.
    pub fn reaction_added(&self, reaction: &Reaction) {
        let r = serde_json::to_string(reaction).unwrap_or_default();
        self.publish("reaction_added", json!({ "reaction": r }), to_channel(&reaction.channel_id));
    }

    /// A reaction was removed (`reaction` as a JSON string), to the post's channel.
    pub fn reaction_removed(&self, reaction: &Reaction) {
        let r = serde_json::to_string(reaction).unwrap_or_default();
        self.publish("reaction_removed", json!({ "reaction": r }), to_channel(&reaction.channel_id));
    }

    /// A custom emoji was created (`emoji` as a JSON string), to everyone.
    pub fn emoji_added(&self, emoji: &Emoji) {
        let e = serde_json::to_string(emoji).unwrap_or_default();
        self.publish("emoji_added", json!({ "emoji": e }), Broadcast::default());
    }

    /// A channel was created; its creator (if any) is its first member.
    pub fn channel_created(&self, channel: &Channel, creator_id: &str) {
        if creator_id.is_empty() {
            return;
        }
        self.membership(creator_id, MembershipChange::JoinedChannel(ChannelId::from(channel.id.as_str())));
        self.publish(
            "channel_created",
            json!({"channel_id": channel.id, "team_id": channel.team_id}),
            to_user(creator_id),
        );
    }

    pub fn user_added(&self, channel: &Channel, user_id: &str) {
        self.membership(user_id, MembershipChange::JoinedChannel(ChannelId::from(channel.id.as_str())));
        self.publish("user_added", json!({"user_id": user_id, "team_id": channel.team_id}), to_channel(&channel.id));
    }

    pub fn user_removed(&self, channel_id: &str, user_id: &str, remover_id: &str) {
        // The remaining members hear who left; then the user, who no longer gets channel events.
        self.publish("user_removed", json!({"user_id": user_id, "remover_id": remover_id}), to_channel(channel_id));
        self.membership(user_id, MembershipChange::LeftChannel(ChannelId::from(channel_id)));
        self.publish("user_removed", json!({"channel_id": channel_id, "remover_id": remover_id}), to_user(user_id));
    }

    /// A user joined a team (and with it these channels).
    pub fn added_to_team(&self, team_id: &str, user_id: &str, channel_ids: &[String]) {
        self.membership(user_id, MembershipChange::JoinedTeam(TeamId::from(team_id)));
        for c in channel_ids {
            self.membership(user_id, MembershipChange::JoinedChannel(ChannelId::from(c.as_str())));
        }
        self.publish("added_to_team", json!({"team_id": team_id, "user_id": user_id}), to_user(user_id));
    }

    /// A message for one user's eyes in a channel (a command's ephemeral answer): Mattermost's
    /// `ephemeral_message`, to that user's sessions on every node; nothing is stored.
    pub fn ephemeral_message(&self, user_id: &str, channel_id: &str, root_id: &str, message: &str) {
        let now = crate::store::now_ms();
        let post = json!({
            "id": starling_protocol::new_id(), "create_at": now, "update_at": now, "edit_at": 0, "delete_at": 0,
            "is_pinned": false, "user_id": user_id, "channel_id": channel_id, "root_id": root_id,
            "original_id": "", "message": message, "type": "system_ephemeral", "props": {}, "hashtags": "",
            "pending_post_id": "", "reply_count": 0, "metadata": {},
        });
        let broadcast =
            Broadcast { user_id: user_id.to_owned(), channel_id: channel_id.to_owned(), ..Default::default() };
        self.publish("ephemeral_message", json!({ "post": post.to_string() }), broadcast);
    }

    /// The config changed (saved or reloaded through this node): every connected client, on every
    /// node, gets the new client config, as Mattermost's `config_changed`.
    pub fn config_changed(&self, client_config: serde_json::Value) {
        self.publish("config_changed", json!({ "config": client_config }), Broadcast::default());
    }

    /// A user left a team (and so these channels).
    pub fn left_team(&self, team_id: &str, user_id: &str, channel_ids: &[String]) {
        self.publish("leave_team", json!({"team_id": team_id, "user_id": user_id}), to_team(team_id));
        self.membership(user_id, MembershipChange::LeftTeam(TeamId::from(team_id)));
        for c in channel_ids {
            self.membership(user_id, MembershipChange::LeftChannel(ChannelId::from(c.as_str())));
        }
        self.publish("leave_team", json!({"team_id": team_id, "user_id": user_id}), to_user(user_id));
    }

    /// A user's profile or picture changed: `user_updated` to everyone, with the user as others may
    /// see it (`user` as an object, not a string).
    pub fn user_updated(&self, user: &User) {
        self.publish("user_updated", json!({ "user": user.sanitized_profile() }), Broadcast::default());
    }

    /// A team's fields or icon changed: `update_team` to its members (`team` as a JSON string,
    /// without its email and invite id).
    pub fn team_updated(&self, team: &Team) {
        let sanitized = Team { email: String::new(), invite_id: String::new(), ..team.clone() };
        let team_json = serde_json::to_string(&sanitized).unwrap_or_default();
        self.publish("update_team", json!({ "team": team_json }), to_team(&team.id));
    }

    /// A team was archived: `delete_team` to its members (`team` as a JSON string).
    pub fn team_deleted(&self, team: &Team) {
        let sanitized = Team { email: String::new(), invite_id: String::new(), ..team.clone() };
        let team_json = serde_json::to_string(&sanitized).unwrap_or_default();
        self.publish("delete_team", json!({ "team": team_json }), to_team(&team.id));
    }

    /// A user's system roles changed.
    pub fn user_role_updated(&self, user_id: &str, roles: &str) {
        self.publish("user_role_updated", json!({"user_id": user_id, "roles": roles}), to_user(user_id));
    }

    /// A team member's roles changed (`member` is the member as a JSON string).
    pub fn team_member_role_updated(&self, member: &TeamMember) {
        let member_json = serde_json::to_string(member).unwrap_or_default();
        self.publish("memberrole_updated", json!({"member": member_json}), to_user(&member.user_id));
    }

    /// A channel membership changed for its user (roles, notify props, read state), sent to the
    /// user's sessions (`channelMember` as a JSON string).
    pub fn channel_member_updated(&self, member: &ChannelMember) {
        let member_json = serde_json::to_string(member).unwrap_or_default();
        self.publish("channel_member_updated", json!({"channelMember": member_json}), to_user(&member.user_id));
    }

    /// A channel's fields changed (`channel` as a JSON string), to its members.
    pub fn channel_updated(&self, channel: &Channel) {
        let channel_json = serde_json::to_string(channel).unwrap_or_default();
        self.publish("channel_updated", json!({"channel": channel_json}), to_channel(&channel.id));
    }

    /// Who hears of an open channel's archive or restore: its team; of a private one: its members.
    fn channel_audience(channel: &Channel) -> Broadcast {
        if channel.is_open() {
            to_team(&channel.team_id)
        } else {
            to_channel(&channel.id)
        }
    }

    pub fn channel_deleted(&self, channel: &Channel) {
        self.publish(
            "channel_deleted",
            json!({"channel_id": channel.id, "delete_at": channel.delete_at}),
            Self::channel_audience(channel),
        );
    }

    pub fn channel_restored(&self, channel: &Channel) {
        self.publish("channel_restored", json!({"channel_id": channel.id}), Self::channel_audience(channel));
    }

    /// Sidebar events go to the user's sessions, with the team in the broadcast (the web app
    /// ignores those of another team).
    pub fn sidebar_category_created(&self, user_id: &str, team_id: &str, category_id: &str) {
        self.publish(
            "sidebar_category_created",
            json!({"category_id": category_id}),
            to_user_in_team(user_id, team_id),
        );
    }

    /// `updatedCategories` is a JSON string of the categories.
    pub fn sidebar_categories_updated(&self, user_id: &str, team_id: &str, categories: &[Category]) {
        let cats = serde_json::to_string(categories).unwrap_or_default();
        self.publish("sidebar_category_updated", json!({"updatedCategories": cats}), to_user_in_team(user_id, team_id));
    }

    pub fn sidebar_category_deleted(&self, user_id: &str, team_id: &str, category_id: &str) {
        self.publish(
            "sidebar_category_deleted",
            json!({"category_id": category_id}),
            to_user_in_team(user_id, team_id),
        );
    }

    /// `order` is a plain array.
    pub fn sidebar_category_order_updated(&self, user_id: &str, team_id: &str, order: &[String]) {
        self.publish("sidebar_category_order_updated", json!({"order": order}), to_user_in_team(user_id, team_id));
    }

    /// Channels a user viewed: `multiple_channels_viewed` (`channel_times`, a plain object) for
    /// the web app, and `channel_viewed` per channel, which the mobile app handles.
    pub fn channels_viewed(&self, user_id: &str, times: &[(String, i64)]) {
        let map: serde_json::Map<String, serde_json::Value> =
            times.iter().map(|(c, t)| (c.clone(), json!(t))).collect();
        self.publish("multiple_channels_viewed", json!({"channel_times": map}), to_user(user_id));
        for (channel_id, _) in times {
            self.publish("channel_viewed", json!({"channel_id": channel_id}), to_user(user_id));
        }
    }

    /// A member marked a channel unread from a post.
    pub fn post_unread(&self, u: &ChannelUnreadAt, post_id: &str) {
        let broadcast = Broadcast {
            user_id: u.user_id.clone(),
            channel_id: u.channel_id.clone(),
            team_id: u.team_id.clone(),
            ..Default::default()
        };
        self.publish(
            "post_unread",
            json!({
                "team_id": u.team_id,
                "channel_id": u.channel_id,
                "user_id": u.user_id,
                "msg_count": u.msg_count,
                "msg_count_root": u.msg_count_root,
                "mention_count": u.mention_count,
                "mention_count_root": u.mention_count_root,
                "urgent_mention_count": u.urgent_mention_count,
                "last_viewed_at": u.last_viewed_at,
                "post_id": post_id,
            }),
            broadcast,
        );
    }

    /// A new direct message: both members join it, then hear `direct_added`.
    pub fn direct_added(&self, channel: &Channel, creator_id: &str, teammate_id: &str) {
        self.membership(creator_id, MembershipChange::JoinedChannel(ChannelId::from(channel.id.as_str())));
        if teammate_id != creator_id {
            self.membership(teammate_id, MembershipChange::JoinedChannel(ChannelId::from(channel.id.as_str())));
        }
        self.publish(
            "direct_added",
            json!({"creator_id": creator_id, "teammate_id": teammate_id}),
            to_channel(&channel.id),
        );
    }

    /// A new group message: its members join it, then hear `group_added` (`teammate_ids` as a JSON
    /// string of the member ids).
    pub fn group_added(&self, channel: &Channel, member_ids: &[String]) {
        for m in member_ids {
            self.membership(m, MembershipChange::JoinedChannel(ChannelId::from(channel.id.as_str())));
        }
        let ids = serde_json::to_string(member_ids).unwrap_or_default();
        self.publish("group_added", json!({"teammate_ids": ids}), to_channel(&channel.id));
    }

    /// Preferences saved: to every session of the user (`preferences` as a JSON string).
    pub fn preferences_changed(&self, user_id: &str, prefs: &[Preference]) {
        let p = serde_json::to_string(prefs).unwrap_or_default();
        self.publish("preferences_changed", json!({"preferences": p}), to_user(user_id));
    }

    pub fn preferences_deleted(&self, user_id: &str, prefs: &[Preference]) {
        let p = serde_json::to_string(prefs).unwrap_or_default();
        self.publish("preferences_deleted", json!({"preferences": p}), to_user(user_id));
    }

    /// A thread a user follows changed (a reply, an edit): `thread_updated` to that user, with the
    /// thread as they see it (`thread` as a JSON string) and their unread counts before.
    pub fn thread_updated(&self, user_id: &str, team_id: &str, thread: &serde_json::Value, previous: (i64, i64)) {
        self.publish(
            "thread_updated",
            json!({
                "thread": thread.to_string(),
                "previous_unread_replies": previous.0,
                "previous_unread_mentions": previous.1,
            }),
            to_user_in_team(user_id, team_id),
        );
    }

    /// A user read a thread, or marked it unread: `thread_read_changed` with the new and previous
    /// counts. `read` of `None` means every thread of the team was read at `timestamp`.
    pub fn thread_read_changed(&self, user_id: &str, team_id: &str, timestamp: i64, read: Option<ThreadReadChange>) {
        let mut data = json!({ "timestamp": timestamp });
        if let Some(r) = read {
            data["thread_id"] = json!(r.thread_id);
            data["channel_id"] = json!(r.channel_id);
            data["unread_replies"] = json!(r.unread_replies);
            data["unread_mentions"] = json!(r.unread_mentions);
            data["previous_unread_replies"] = json!(r.previous_unread_replies);
            data["previous_unread_mentions"] = json!(r.previous_unread_mentions);
        }
        self.publish("thread_read_changed", data, to_user_in_team(user_id, team_id));
    }

    /// A user followed (`state` true) or unfollowed a thread.
    pub fn thread_follow_changed(&self, user_id: &str, team_id: &str, thread_id: &str, state: bool, reply_count: i64) {
        self.publish(
            "thread_follow_changed",
            json!({ "thread_id": thread_id, "state": state, "reply_count": reply_count }),
            to_user_in_team(user_id, team_id),
        );
    }
}

/// One thread's read state change, for `thread_read_changed`.
#[derive(Debug, Clone)]
pub struct ThreadReadChange {
    pub thread_id: String,
    pub channel_id: String,
    pub unread_replies: i64,
    pub unread_mentions: i64,
    pub previous_unread_replies: i64,
    pub previous_unread_mentions: i64,
}
