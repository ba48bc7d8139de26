//! Search: posts by PostgreSQL full-text search in the channels a user belongs to, and users by
//! name prefix. Both run on the search replicas, then the read replicas, then the master.

use super::posts::{Post, POST_SELECT};
use super::users::{User, USER_COLS};
use super::{Store, StoreResult};
use tokio_postgres::types::ToSql;

/// A post search, parsed from Mattermost's `terms`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PostSearch {
    pub words: Vec<String>,
    /// Text inside double quotes, matched as a phrase.
    pub phrases: Vec<String>,
    /// `from:username` (or `from:@username`).
    pub from: Vec<String>,
    /// `in:channel-name` (or `in:~channel-name`).
    pub in_channels: Vec<String>,
    /// `is_or_search`: any term matches instead of all.
    pub or: bool,
}

impl PostSearch {
    pub fn parse(terms: &str, or: bool) -> PostSearch {
        let mut s = PostSearch { or, ..Default::default() };
        let mut rest = terms;
        while let Some(start) = rest.find('"') {
            let (before, after) = rest.split_at(start);
            s.take_words(before);
            let after = &after[1..];
            match after.find('"') {
                Some(end) => {
                    let phrase = after[..end].trim();
                    if !phrase.is_empty() {
                        s.phrases.push(phrase.to_owned());
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    rest = after;
                    break;
                }
            }
        }
        s.take_words(rest);
        s
    }

    fn take_words(&mut self, text: &str) {
        for w in text.split_whitespace() {
            if let Some(u) = w.strip_prefix("from:") {
                let u = u.trim_start_matches('@');
                if !u.is_empty() {
                    self.from.push(u.to_lowercase());
                }
            } else if let Some(c) = w.strip_prefix("in:") {
                let c = c.trim_start_matches('~');
                if !c.is_empty() {
                    self.in_channels.push(c.to_lowercase());
                }
            } else {
                self.words.push(w.to_owned());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.phrases.is_empty() && self.from.is_empty() && self.in_channels.is_empty()
    }
}

/// A page of post search results, newest first; `has_next` when another page exists.
pub struct PostSearchPage {
    pub posts: Vec<Post>,
    pub has_next: bool,
}

impl Store {
    /// Posts of `team_id` (and direct channels) that `user_id` can read, matching `q`.
    pub async fn search_posts(
        &self,
        user_id: &str,
        team_id: &str,
        q: &PostSearch,
        page: i64,
        per_page: i64,
    ) -> StoreResult<PostSearchPage> {
        if q.is_empty() {
            return Ok(PostSearchPage { posts: vec![], has_next: false });
        }
        let limit = per_page + 1;
        let offset = page * per_page;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&user_id, &team_id, &q.from, &q.in_channels, &limit, &offset];
        let mut text = vec![];
        for w in &q.words {
            params.push(w);
            text.push(format!("plainto_tsquery('english', ${})", params.len()));
        }
        for p in &q.phrases {
            params.push(p);
            text.push(format!("phraseto_tsquery('english', ${})", params.len()));
        }
        let text_match = if text.is_empty() {
            String::new()
        } else {
            let op = if q.or { " || " } else { " && " };
            format!("AND to_tsvector('english', p.message) @@ ({})", text.join(op))
        };
        let sql = format!(
            "{POST_SELECT} JOIN channelmembers m ON m.channel_id = p.channel_id AND m.user_id = $1 \
             JOIN channels c ON c.id = p.channel_id \
             WHERE (c.team_id = $2 OR c.team_id = '') AND c.delete_at = 0 AND p.delete_at = 0 \
             AND (cardinality($3::text[]) = 0 OR p.user_id IN (SELECT id FROM users WHERE username = ANY($3))) \
             AND (cardinality($4::text[]) = 0 OR c.name = ANY($4)) {text_match} \
             ORDER BY p.create_at DESC, p.id DESC LIMIT $5 OFFSET $6"
        );
        let mut posts: Vec<Post> =
            self.search(async |c| Ok(c.query(&sql, &params).await?.iter().map(Post::from_row).collect())).await?;
        let has_next = posts.len() as i64 > per_page;
        posts.truncate(per_page.max(0) as usize);
        self.fill_metadata(&mut posts).await?;
        Ok(PostSearchPage { posts, has_next })
    }

    /// Users whose username, names, nickname or email start with `term` (case-insensitive),
    /// optionally only members of a team or a channel.
    pub async fn search_users(
        &self,
        term: &str,
        in_team: Option<&str>,
        in_channel: Option<&str>,
        allow_inactive: bool,
        limit: i64,
    ) -> StoreResult<Vec<User>> {
        let escaped = term.trim().trim_start_matches('@').replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let pattern = format!("{}%", escaped.to_lowercase());
        let cols = USER_COLS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {cols} FROM users u \
             WHERE (lower(u.username) LIKE $1 OR lower(u.first_name) LIKE $1 OR lower(u.last_name) LIKE $1 \
                    OR lower(u.nickname) LIKE $1 OR lower(u.email) LIKE $1) \
             AND ($2 OR u.delete_at = 0) \
             AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM teammembers tm WHERE tm.user_id = u.id AND tm.team_id = $3 AND tm.delete_at = 0)) \
             AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM channelmembers cm WHERE cm.user_id = u.id AND cm.channel_id = $4)) \
             ORDER BY u.username LIMIT $5"
        );
        self.search(async |c| {
            let rows = c.query(&sql, &[&pattern, &allow_inactive, &in_team, &in_channel, &limit]).await?;
            Ok(rows.iter().map(User::from_row).collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::PostSearch;

    #[test]
    fn parses_words_phrases_and_filters() {
        let q = PostSearch::parse(r#"hello "big red dog" from:@Alice in:~town-square world "unclosed"#, false);
        assert_eq!(q.words, vec!["hello", "world", "unclosed"]);
        assert_eq!(q.phrases, vec!["big red dog"]);
        assert_eq!(q.from, vec!["alice"]);
        assert_eq!(q.in_channels, vec!["town-square"]);
        assert!(!q.or);
        assert!(PostSearch::parse("  ", true).is_empty());
        assert_eq!(PostSearch::parse(r#""a b" c"#, true).phrases, vec!["a b"]);
    }
}
