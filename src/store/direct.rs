//! Direct and group messages: channels of no team (`team_id` empty) whose name Mattermost derives
//! from the members, so creating one twice gives the same channel.

use super::channels::{add_channel_member_tx, Channel, CHANNEL_COLS};
use super::users::{User, USER_COLS};
use super::{now_ms, Store, StoreResult};
use starling_protocol::new_id;
use std::collections::BTreeMap;

/// Create the channel named `name` of `channel_type` with these members, or find it if it exists.
/// Returns it and whether this call created it.
async fn get_or_create(
    c: &mut deadpool_postgres::Object,
    name: &str,
    channel_type: &str,
    display_name: &str,
    creator_id: &str,
    members: &[String],
) -> StoreResult<(Channel, bool)> {
    let tx = c.transaction().await?;
    let now = now_ms();
    let inserted = tx
        .query_opt(
            &format!(
                "INSERT INTO channels (id, create_at, update_at, team_id, type, display_name, name, creator_id) \
                 VALUES ($1, $2, $2, '', $3, $4, $5, $6) ON CONFLICT (name, team_id) DO NOTHING RETURNING {CHANNEL_COLS}"
            ),
            &[&new_id(), &now, &channel_type, &display_name, &name, &creator_id],
        )
        .await?;
    let created = inserted.is_some();
    let channel = match inserted {
        Some(row) => {
            let channel = Channel::from_row(&row);
            for m in members {
                add_channel_member_tx(&tx, &channel.id, m, false).await?;
            }
            channel
        }
        None => {
            let row = tx
                .query_one(&format!("SELECT {CHANNEL_COLS} FROM channels WHERE team_id = '' AND name = $1"), &[&name])
                .await?;
            Channel::from_row(&row)
        }
    };
    tx.commit().await?;
    Ok((channel, created))
}

/// Mattermost's name of a direct message: the two ids, smaller first, joined by `__`.
pub fn direct_name(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}__{b}")
    } else {
        format!("{b}__{a}")
    }
}

/// Mattermost's name of a group message: the SHA-1, in hex, of the sorted ids concatenated.
pub fn group_name(user_ids: &[String]) -> String {
    use sha1::Digest;
    let mut ids = user_ids.to_vec();
    ids.sort();
    hex::encode(sha1::Sha1::digest(ids.concat().as_bytes()))
}

/// Mattermost's display name of a group message: the sorted usernames joined by `, `, at most 64
/// characters.
pub fn group_display_name(users: &[User]) -> String {
    let mut names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    names.sort();
    names.join(", ").chars().take(64).collect()
}

impl Store {
    /// The direct message between `creator` and `other` (the same user: a note to self), made if
    /// needed. Returns it and whether it is new.
    pub async fn direct_channel(&self, creator: &str, other: &str) -> StoreResult<(Channel, bool)> {
        let mut c = self.master.get().await?;
        let mut members = vec![creator.to_owned()];
        if other != creator {
            members.push(other.to_owned());
        }
        get_or_create(&mut c, &direct_name(creator, other), "D", "", creator, &members).await
    }

    /// The group message of these users, made if needed. Returns it and whether it is new.
    pub async fn group_channel(&self, creator: &str, users: &[User]) -> StoreResult<(Channel, bool)> {
        let mut c = self.master.get().await?;
        let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        get_or_create(&mut c, &group_name(&ids), "G", &group_display_name(users), creator, &ids).await
    }

    /// The members of each of these channels, as users.
    pub async fn users_in_channels(&self, channel_ids: &[String]) -> StoreResult<BTreeMap<String, Vec<User>>> {
        self.read(async |c| {
            let cols = USER_COLS.split(", ").map(|c| format!("u.{}", c.trim())).collect::<Vec<_>>().join(", ");
            let rows = c
                .query(
                    &format!(
                        "SELECT m.channel_id, {cols} FROM channelmembers m JOIN users u ON u.id = m.user_id \
                         WHERE m.channel_id = ANY($1) ORDER BY m.channel_id, u.username"
                    ),
                    &[&channel_ids],
                )
                .await?;
            let mut out: BTreeMap<String, Vec<User>> = BTreeMap::new();
            for r in &rows {
                out.entry(r.get("channel_id")).or_default().push(User::from_row(r));
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_mattermost_forms_them() {
        assert_eq!(direct_name("bbb", "aaa"), "aaa__bbb");
        assert_eq!(direct_name("aaa", "bbb"), "aaa__bbb");
        let ids = vec!["c".to_owned(), "a".to_owned(), "b".to_owned()];
        // sha1("abc")
        assert_eq!(group_name(&ids), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
