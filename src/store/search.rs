//! Search: posts by PostgreSQL full-text search in the channels a user belongs to, users by name
//! prefix, and the @-mention and ~channel autocompletes. All run on the search replicas, then the
//! read replicas, then the master.

use super::channels::{qualified_cols, Channel};
use super::posts::{Post, POST_SELECT};
use super::users::{User, USER_COLS};
use super::{Store, StoreResult};
use tokio_postgres::types::ToSql;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A post search, parsed from Mattermost's `terms`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PostSearch {
    /// What a match must have.
    pub include: Terms,
    /// `word*`: words starting with the prefix (letters and digits only).
    pub prefixes: Vec<String>,
    /// `-word`, `-"a phrase"`, `-from:`, `-in:`, `-#tag`: what a match must not have.
    pub excluded: Terms,
    /// `on:YYYY-MM-DD`, `after:`, `before:` as days since the Unix epoch, in the searcher's time
    /// zone (see [`PostSearch::created_range`]).
    pub on: Option<i64>,
    pub after: Option<i64>,
    pub before: Option<i64>,
    /// `is_or_search`: any term matches instead of all.
    pub or: bool,
    /// The searcher's clock, seconds ahead of UTC (`time_zone_offset`), for the date terms.
    pub tz_offset_s: i64,
}

/// The terms a search includes, or excludes with a `-`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Terms {
    pub words: Vec<String>,
    /// Text inside double quotes, matched as a phrase.
    pub phrases: Vec<String>,
    /// `from:username` (or `from:@username`).
    pub from: Vec<String>,
    /// `in:channel-name` (or `in:~channel-name`); `in:@username` is the direct channel with them.
    pub in_channels: Vec<String>,
    /// `#tag`: posts carrying the hashtag (lowercase, with the `#`).
    pub hashtags: Vec<String>,
}

impl PostSearch {
    pub fn parse(terms: &str, or: bool) -> PostSearch {
        let mut s = PostSearch { or, ..Default::default() };
        let mut rest = terms;
        while let Some(start) = rest.find('"') {
            let (before, after) = rest.split_at(start);
            // `-"a phrase"`: the minus right before the quote excludes the phrase.
            let negated =
                before.ends_with('-') && before[..before.len() - 1].chars().last().is_none_or(char::is_whitespace);
            s.take_words(if negated { &before[..before.len() - 1] } else { before });
            let after = &after[1..];
            match after.find('"') {
                Some(end) => {
                    let phrase = after[..end].trim();
                    if !phrase.is_empty() {
                        s.terms(negated).phrases.push(phrase.to_owned());
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

    fn terms(&mut self, negated: bool) -> &mut Terms {
        if negated {
            &mut self.excluded
        } else {
            &mut self.include
        }
    }

    fn take_words(&mut self, text: &str) {
        for w in text.split_whitespace() {
            let (negated, w) = match w.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, rest),
                _ => (false, w),
            };
            if let Some(u) = w.strip_prefix("from:") {
                let u = u.trim_start_matches('@').to_lowercase();
                if !u.is_empty() {
                    self.terms(negated).from.push(u);
                }
            } else if let Some(c) = w.strip_prefix("in:").or_else(|| w.strip_prefix("channel:")) {
                let c = c.trim_start_matches('~').to_lowercase();
                if !c.is_empty() && c != "@" {
                    self.terms(negated).in_channels.push(c);
                }
            } else if let Some(d) = w.strip_prefix("on:") {
                self.on = day_number(d).or(self.on);
            } else if let Some(d) = w.strip_prefix("after:") {
                self.after = day_number(d).or(self.after);
            } else if let Some(d) = w.strip_prefix("before:") {
                self.before = day_number(d).or(self.before);
            } else if let Some(tag) = w.strip_prefix('#') {
                let tag = tag.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '_' && c != '-');
                if !tag.is_empty() {
                    let tag = format!("#{}", tag.to_lowercase());
                    self.terms(negated).hashtags.push(tag);
                }
            } else if negated {
                self.excluded.words.push(w.to_owned());
            } else if let Some(p) =
                w.strip_suffix('*').filter(|p| !p.is_empty() && p.chars().all(char::is_alphanumeric))
            {
                self.prefixes.push(p.to_lowercase());
            } else {
                self.include.words.push(w.to_owned());
            }
        }
    }

    /// The `create_at` bounds (Unix ms, both inclusive) the date terms give in the searcher's
    /// time zone (`tz_offset_s`): `on:` is that day, `after:` starts the day after, `before:`
    /// ends the day before, as in Mattermost.
    pub fn created_range(&self) -> (Option<i64>, Option<i64>) {
        let start_of = |day: i64| day * DAY_MS - self.tz_offset_s * 1000;
        let mut from = self.after.map(|d| start_of(d + 1));
        let mut to = self.before.map(|d| start_of(d) - 1);
        if let Some(d) = self.on {
            from = Some(from.map_or(start_of(d), |f| f.max(start_of(d))));
            to = Some(to.map_or(start_of(d + 1) - 1, |t| t.min(start_of(d + 1) - 1)));
        }
        (from, to)
    }

    /// How many terms were parsed: each becomes a statement parameter, so callers bound it.
    pub fn term_count(&self) -> usize {
        let count = |t: &Terms| t.words.len() + t.phrases.len() + t.from.len() + t.in_channels.len() + t.hashtags.len();
        count(&self.include) + count(&self.excluded) + self.prefixes.len()
    }

    /// Nothing to search for: no term that selects posts (exclusions alone select nothing, as in
    /// Mattermost).
    pub fn is_empty(&self) -> bool {
        let i = &self.include;
        i.words.is_empty()
            && i.phrases.is_empty()
            && self.prefixes.is_empty()
            && i.hashtags.is_empty()
            && i.from.is_empty()
            && i.in_channels.is_empty()
            && self.on.is_none()
            && self.after.is_none()
            && self.before.is_none()
    }
}

/// `YYYY-MM-DD` as days since 1970-01-01, or `None` if it is not a date.
fn day_number(s: &str) -> Option<i64> {
    let mut parts = s.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || !(1..=2).contains(&m.len()) || !(1..=2).contains(&d.len()) {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    let date = time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
    Some(i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY)
}

/// 1970-01-01 as a Julian day number.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

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
        let (created_from, created_to) = q.created_range();
        let (i, x) = (&q.include, &q.excluded);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &user_id,
            &team_id,
            &i.from,
            &i.in_channels,
            &limit,
            &offset,
            &created_from,
            &created_to,
            &x.from,
            &x.in_channels,
        ];
        let mut text = vec![];
        for w in &i.words {
            params.push(w);
            text.push(format!("plainto_tsquery('english', ${})", params.len()));
        }
        for p in &i.phrases {
            params.push(p);
            text.push(format!("phraseto_tsquery('english', ${})", params.len()));
        }
        for p in &q.prefixes {
            // letters and digits only (PostSearch::parse), so nothing in it is tsquery syntax
            params.push(p);
            text.push(format!("to_tsquery('english', ${} || ':*')", params.len()));
        }
        let mut selectors = vec![];
        if !text.is_empty() {
            let op = if q.or { " || " } else { " && " };
            selectors.push(format!("to_tsvector('english', p.message) @@ ({})", text.join(op)));
        }
        if !i.hashtags.is_empty() {
            params.push(&i.hashtags);
            let op = if q.or { "&&" } else { "@>" };
            selectors.push(format!("string_to_array(lower(p.hashtags), ' ') {op} ${}::text[]", params.len()));
        }
        let mut selected = if selectors.is_empty() {
            String::new()
        } else {
            format!("AND ({})", selectors.join(if q.or { " OR " } else { " AND " }))
        };
        for w in &x.words {
            params.push(w);
            selected +=
                &format!(" AND NOT to_tsvector('english', p.message) @@ plainto_tsquery('english', ${})", params.len());
        }
        for p in &x.phrases {
            params.push(p);
            selected += &format!(
                " AND NOT to_tsvector('english', p.message) @@ phraseto_tsquery('english', ${})",
                params.len()
            );
        }
        if !x.hashtags.is_empty() {
            params.push(&x.hashtags);
            selected += &format!(" AND NOT string_to_array(lower(p.hashtags), ' ') && ${}::text[]", params.len());
        }
        // `in:` names a channel, or `@username` the caller's direct channel with that user.
        let in_channels = |n: u8| {
            format!(
                "(c.name = ANY(${n}) OR (c.type = 'D' AND EXISTS (SELECT 1 FROM users du \
                 WHERE '@' || du.username = ANY(${n}) AND position(du.id IN c.name) > 0)))"
            )
        };
        let (inside, outside) = (in_channels(4), in_channels(10));
        let sql = format!(
            "{POST_SELECT} JOIN channelmembers m ON m.channel_id = p.channel_id AND m.user_id = $1 \
             JOIN channels c ON c.id = p.channel_id \
             WHERE (c.team_id = $2 OR c.team_id = '') AND c.delete_at = 0 AND p.delete_at = 0 \
             AND (cardinality($3::text[]) = 0 OR p.user_id IN (SELECT id FROM users WHERE username = ANY($3))) \
             AND (cardinality($4::text[]) = 0 OR {inside}) \
             AND ($7::bigint IS NULL OR p.create_at >= $7) AND ($8::bigint IS NULL OR p.create_at <= $8) \
             AND (cardinality($9::text[]) = 0 OR p.user_id NOT IN (SELECT id FROM users WHERE username = ANY($9))) \
             AND (cardinality($10::text[]) = 0 OR NOT {outside}) \
             {selected} ORDER BY p.create_at DESC, p.id DESC LIMIT $5 OFFSET $6"
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
        let pattern = like_prefix(term.trim().trim_start_matches('@'));
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

/// `term` as a case-insensitive LIKE prefix pattern (lowercased, wildcards escaped).
pub(super) fn like_prefix(term: &str) -> String {
    format!("{}%", term.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

/// The users an @-mention autocomplete looks among.
#[derive(Debug, Clone, Copy)]
pub struct UserScope<'a> {
    /// Members of this team only.
    pub team: Option<&'a str>,
    /// Members of this channel only.
    pub in_channel: Option<&'a str>,
    /// Not members of this channel.
    pub not_in_channel: Option<&'a str>,
}

impl Store {
    /// Active users whose username, first or last name, full name or nickname starts with
    /// `term` (case-insensitive; every user when it is empty), in `scope`, by username.
    pub async fn autocomplete_users(&self, term: &str, scope: UserScope<'_>, limit: i64) -> StoreResult<Vec<User>> {
        let pattern = like_prefix(term.trim().trim_start_matches('@'));
        let cols = USER_COLS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {cols} FROM users u \
             WHERE u.delete_at = 0 \
             AND (lower(u.username) LIKE $1 OR lower(u.first_name) LIKE $1 OR lower(u.last_name) LIKE $1 \
                  OR lower(u.first_name || ' ' || u.last_name) LIKE $1 OR lower(u.nickname) LIKE $1) \
             AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM teammembers tm WHERE tm.user_id = u.id AND tm.team_id = $2 AND tm.delete_at = 0)) \
             AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM channelmembers cm WHERE cm.user_id = u.id AND cm.channel_id = $3)) \
             AND ($4::text IS NULL OR NOT EXISTS (SELECT 1 FROM channelmembers cm WHERE cm.user_id = u.id AND cm.channel_id = $4)) \
             ORDER BY u.username LIMIT $5"
        );
        self.search(async |c| {
            let rows =
                c.query(&sql, &[&pattern, &scope.team, &scope.in_channel, &scope.not_in_channel, &limit]).await?;
            Ok(rows.iter().map(User::from_row).collect())
        })
        .await
    }

    /// The ~channel autocomplete of a team: open channels and the private ones `user_id` belongs
    /// to whose name, display name or a word of it starts with `term`, by display name.
    pub async fn autocomplete_team_channels(
        &self,
        user_id: &str,
        team_id: &str,
        term: &str,
        limit: i64,
    ) -> StoreResult<Vec<Channel>> {
        let pattern = like_prefix(term.trim().trim_start_matches('~'));
        let sql = format!(
            "SELECT {} FROM channels c WHERE c.team_id = $1 AND c.delete_at = 0 \
             AND (c.type = 'O' OR (c.type = 'P' AND EXISTS \
                  (SELECT 1 FROM channelmembers m WHERE m.channel_id = c.id AND m.user_id = $2))) \
             AND (lower(c.name) LIKE $3 OR lower(c.display_name) LIKE $3 OR lower(c.display_name) LIKE '% ' || $3) \
             ORDER BY lower(c.display_name), c.id LIMIT $4",
            qualified_cols("c")
        );
        self.search(async |c| {
            Ok(c.query(&sql, &[&team_id, &user_id, &pattern, &limit]).await?.iter().map(Channel::from_row).collect())
        })
        .await
    }

    /// The channel switcher's search in a team: the team's channels `user_id` belongs to by name
    /// or display name, and their direct and group channels with a user whose username starts
    /// with `term`.
    pub async fn autocomplete_my_channels(
        &self,
        user_id: &str,
        team_id: &str,
        term: &str,
        limit: i64,
    ) -> StoreResult<Vec<Channel>> {
        let pattern = like_prefix(term.trim().trim_start_matches(['~', '@']));
        let sql = format!(
            "SELECT {} FROM channels c JOIN channelmembers m ON m.channel_id = c.id AND m.user_id = $2 \
             WHERE c.delete_at = 0 AND ( \
               (c.team_id = $1 AND c.type IN ('O', 'P') \
                AND (lower(c.name) LIKE $3 OR lower(c.display_name) LIKE $3 OR lower(c.display_name) LIKE '% ' || $3)) \
               OR (c.type IN ('D', 'G') AND EXISTS (SELECT 1 FROM channelmembers o JOIN users u ON u.id = o.user_id \
                   WHERE o.channel_id = c.id AND (o.user_id <> $2 OR c.name = $2 || '__' || $2) \
                   AND lower(u.username) LIKE $3))) \
             ORDER BY c.type, lower(c.display_name), c.id LIMIT $4",
            qualified_cols("c")
        );
        self.search(async |c| {
            Ok(c.query(&sql, &[&team_id, &user_id, &pattern, &limit]).await?.iter().map(Channel::from_row).collect())
        })
        .await
    }

    /// Group channels `user_id` belongs to with another member whose username, first or last
    /// name or nickname starts with `term`.
    pub async fn search_group_channels(&self, user_id: &str, term: &str, limit: i64) -> StoreResult<Vec<Channel>> {
        let pattern = like_prefix(term.trim().trim_start_matches('@'));
        let sql = format!(
            "SELECT {} FROM channels c JOIN channelmembers m ON m.channel_id = c.id AND m.user_id = $1 \
             WHERE c.type = 'G' AND c.delete_at = 0 AND EXISTS (SELECT 1 FROM channelmembers o JOIN users u ON u.id = o.user_id \
                WHERE o.channel_id = c.id AND o.user_id <> $1 AND (lower(u.username) LIKE $2 OR lower(u.first_name) LIKE $2 \
                      OR lower(u.last_name) LIKE $2 OR lower(u.nickname) LIKE $2)) \
             ORDER BY lower(c.display_name), c.id LIMIT $3",
            qualified_cols("c")
        );
        self.search(async |c| {
            Ok(c.query(&sql, &[&user_id, &pattern, &limit]).await?.iter().map(Channel::from_row).collect())
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
        assert_eq!(q.include.words, vec!["hello", "world", "unclosed"]);
        assert_eq!(q.include.phrases, vec!["big red dog"]);
        assert_eq!(q.include.from, vec!["alice"]);
        assert_eq!(q.include.in_channels, vec!["town-square"]);
        assert!(!q.or);
        assert!(PostSearch::parse("  ", true).is_empty());
        assert_eq!(PostSearch::parse(r#""a b" c"#, true).include.phrases, vec!["a b"]);
    }

    #[test]
    fn parses_exclusions_hashtags_prefixes_and_dates() {
        let q = PostSearch::parse(
            r#"#Release -#wip -word -"not this" -from:bob -in:off-topic in:@carol deploy* on:2026-02-28 after:2026-1-5 before:2026-13-01"#,
            false,
        );
        assert_eq!(q.include.hashtags, vec!["#release"]);
        assert_eq!(q.excluded.hashtags, vec!["#wip"]);
        assert_eq!(q.excluded.words, vec!["word"]);
        assert_eq!(q.excluded.phrases, vec!["not this"]);
        assert_eq!(q.excluded.from, vec!["bob"]);
        assert_eq!(q.excluded.in_channels, vec!["off-topic"]);
        assert_eq!(q.include.in_channels, vec!["@carol"]);
        assert_eq!(q.prefixes, vec!["deploy"]);
        assert!(q.include.words.is_empty(), "{:?}", q.include.words);
        assert_eq!(q.before, None, "month 13 is not a date");
        // 2026-02-28 is day 20,512 after 1970-01-01; 2026-01-05 is day 20,458.
        assert_eq!(q.on, Some(20_512));
        assert_eq!(q.after, Some(20_458));
        let day = 86_400_000;
        let (from, to) = q.created_range();
        assert_eq!(from, Some(20_512 * day), "on: wins over an earlier after:");
        assert_eq!(to, Some(20_513 * day - 1));
        // A searcher two hours ahead of UTC: their day starts at 22:00 UTC the day before.
        let after = PostSearch { tz_offset_s: 7200, ..PostSearch::parse("after:2026-02-28", false) };
        assert_eq!(after.created_range(), (Some(20_513 * day - 7_200_000), None));
        let before = PostSearch::parse("before:2026-02-28", false);
        assert_eq!(before.created_range(), (None, Some(20_512 * day - 1)));
        assert!(PostSearch::parse("-alone -from:x", false).is_empty(), "exclusions alone select nothing");
        assert!(PostSearch::parse("on:2026-02-30", false).on.is_none());
        assert_eq!(PostSearch::parse("on:2024-02-29", false).on, Some(19_782));
    }
}
