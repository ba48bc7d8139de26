//! The websocket events the API publishes, in Mattermost's shapes, and the membership changes that
//! decide who receives them. Membership changes go through the same bus as events, so a user added
//! to a channel receives the `user_added` event that announces it.

use crate::store::{Channel, ChannelMember, Post, TeamMember};
use actix::Addr;
use serde_json::json;
use starling_actors::{EventBus, MembershipChange, PublishEvent, PublishMembership};
use starling_protocol::{Broadcast, UserId, WsEvent};

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

    fn publish(&self, event: &str, data: serde_json::Value, broadcast: Broadcast) {
        self.bus.do_send(PublishEvent { event: WsEvent::new(event, data.to_string(), broadcast) });
    }

    fn membership(&self, user_id: &str, change: MembershipChange) {
        self.bus.do_send(PublishMembership { user_id: UserId::from(user_id), change });
    }

    pub fn posted(&self, post: &Post, channel: &Channel, sender_name: &str) {
        let post_json = serde_json::to_string(post).unwrap_or_default();
        self.publish(
            "posted",
            json!({
                "channel_display_name": channel.display_name,
                "channel_name": channel.name,
                "channel_type": channel.channel_type,
                "post": post_json,
                "sender_name": format!("@{sender_name}"),
                "set_online": true,
                "team_id": channel.team_id,
            }),
            to_channel(&channel.id),
        );
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

    /// A channel was created; its creator (if any) is its first member.
    pub fn channel_created(&self, channel: &Channel, creator_id: &str) {
        if creator_id.is_empty() {
            return;
        }
        self.membership(creator_id, MembershipChange::JoinedChannel(channel.id.clone()));
        self.publish(
            "channel_created",
            json!({"channel_id": channel.id, "team_id": channel.team_id}),
            to_user(creator_id),
        );
    }

    pub fn user_added(&self, channel: &Channel, user_id: &str) {
        self.membership(user_id, MembershipChange::JoinedChannel(channel.id.clone()));
        self.publish("user_added", json!({"user_id": user_id, "team_id": channel.team_id}), to_channel(&channel.id));
    }

    pub fn user_removed(&self, channel_id: &str, user_id: &str, remover_id: &str) {
        // The remaining members hear who left; then the user, who no longer gets channel events.
        self.publish("user_removed", json!({"user_id": user_id, "remover_id": remover_id}), to_channel(channel_id));
        self.membership(user_id, MembershipChange::LeftChannel(channel_id.to_owned()));
        self.publish("user_removed", json!({"channel_id": channel_id, "remover_id": remover_id}), to_user(user_id));
    }

    /// A user joined a team (and with it these channels).
    pub fn added_to_team(&self, team_id: &str, user_id: &str, channel_ids: &[String]) {
        self.membership(user_id, MembershipChange::JoinedTeam(team_id.to_owned()));
        for c in channel_ids {
            self.membership(user_id, MembershipChange::JoinedChannel(c.clone()));
        }
        self.publish("added_to_team", json!({"team_id": team_id, "user_id": user_id}), to_user(user_id));
    }

    /// A user left a team (and so these channels).
    pub fn left_team(&self, team_id: &str, user_id: &str, channel_ids: &[String]) {
        self.publish("leave_team", json!({"team_id": team_id, "user_id": user_id}), to_team(team_id));
        self.membership(user_id, MembershipChange::LeftTeam(team_id.to_owned()));
        for c in channel_ids {
            self.membership(user_id, MembershipChange::LeftChannel(c.clone()));
        }
        self.publish("leave_team", json!({"team_id": team_id, "user_id": user_id}), to_user(user_id));
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
}
