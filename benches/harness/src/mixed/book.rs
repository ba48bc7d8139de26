//! The loss accounting of one client: which posts it holds (received live on its websocket, or
//! caught up over REST after a reconnect that got a fresh `hello`), how many live events came
//! twice, and, at the end, which of the run's posts it should hold and does not.
//!
//! A post is expected by a client when its channel is one of the client's, its request started
//! after the client's first `hello` (so the server had registered the socket), and, for a client
//! stopped before the end (ramp down), it was confirmed before the client stopped.

use super::plan::CreatedPost;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Live,
    Rest,
}

#[derive(Debug, Default)]
pub struct Book {
    /// Wall-clock us of the first `hello`.
    pub first_hello_us: Option<i64>,
    /// Wall-clock us at which the client stopped (ramp down).
    pub cutoff_us: Option<i64>,
    held: HashMap<String, Via>,
    pub duplicated: u64,
    /// Test only: drop the next live `posted` event, and never hold that post.
    pub drop_next: bool,
    dropped: Option<String>,
}

/// A client's verdict over the run's posts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub expected: u64,
    pub held: u64,
    pub via_rest: u64,
    pub lost: Vec<String>,
}

impl Book {
    /// A live `posted` event. Returns false when it was a duplicate or dropped on purpose.
    pub fn live(&mut self, post_id: &str) -> bool {
        if self.dropped.as_deref() == Some(post_id) {
            return false;
        }
        if self.drop_next {
            self.drop_next = false;
            self.dropped = Some(post_id.to_owned());
            return false;
        }
        match self.held.get_mut(post_id) {
            Some(Via::Live) => {
                self.duplicated += 1;
                false
            }
            // Caught up over REST first, then delivered live: an overlap, not a duplicate.
            Some(via @ Via::Rest) => {
                *via = Via::Live;
                true
            }
            None => {
                self.held.insert(post_id.to_owned(), Via::Live);
                true
            }
        }
    }

    /// A post seen in a REST catch-up. Returns true when it was new.
    pub fn rest(&mut self, post_id: &str) -> bool {
        if self.dropped.as_deref() == Some(post_id) || self.held.contains_key(post_id) {
            return false;
        }
        self.held.insert(post_id.to_owned(), Via::Rest);
        true
    }

    fn expects(&self, p: &CreatedPost) -> bool {
        let Some(first) = self.first_hello_us else { return false };
        p.started_us >= first && self.cutoff_us.is_none_or(|cut| p.completed_us <= cut)
    }

    /// Judge the client against the run's posts, grouped by channel.
    pub fn verdict(&self, channels: &[String], by_channel: &HashMap<&str, Vec<&CreatedPost>>) -> Verdict {
        let mut v = Verdict::default();
        let mine: HashSet<&str> = channels.iter().map(String::as_str).collect();
        for ch in mine {
            for p in by_channel.get(ch).map(Vec::as_slice).unwrap_or(&[]) {
                if !self.expects(p) {
                    continue;
                }
                v.expected += 1;
                match self.held.get(&p.id) {
                    Some(via) => {
                        v.held += 1;
                        if *via == Via::Rest {
                            v.via_rest += 1;
                        }
                    }
                    None => v.lost.push(p.id.clone()),
                }
            }
        }
        v
    }

    /// Ids held that are not among `confirmed` (posts whose request failed but which exist).
    pub fn unconfirmed<'a>(&'a self, confirmed: &'a HashSet<&str>) -> impl Iterator<Item = &'a String> + 'a {
        self.held.keys().filter(move |id| !confirmed.contains(id.as_str()))
    }
}

/// The run's posts by channel.
pub fn by_channel(posts: &[CreatedPost]) -> HashMap<&str, Vec<&CreatedPost>> {
    let mut m: HashMap<&str, Vec<&CreatedPost>> = HashMap::new();
    for p in posts {
        m.entry(p.channel_id.as_str()).or_default().push(p);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: &str, ch: &str, started: i64, completed: i64) -> CreatedPost {
        CreatedPost { id: id.into(), channel_id: ch.into(), started_us: started, completed_us: completed }
    }

    #[test]
    fn counts_lost_duplicated_and_caught_up() {
        let posts = vec![
            post("before", "c1", 5, 8),
            post("a", "c1", 20, 25),
            post("b", "c1", 30, 35),
            post("c", "c2", 40, 45),
            post("other", "c3", 50, 55),
        ];
        let idx = by_channel(&posts);
        let mut b = Book { first_hello_us: Some(10), ..Default::default() };
        assert!(b.live("a"));
        assert!(!b.live("a"), "second live delivery is a duplicate");
        assert!(b.rest("c"));
        assert!(b.live("c"), "live after a REST catch-up is an overlap");
        let v = b.verdict(&["c1".into(), "c2".into()], &idx);
        assert_eq!(v.expected, 3, "'before' started before hello, 'other' is not its channel");
        assert_eq!(v.lost, vec!["b".to_owned()]);
        assert_eq!(b.duplicated, 1);
        // A REST catch-up of a post already received live is an overlap, not a duplicate.
        assert!(!b.rest("a"));
        assert_eq!(b.duplicated, 1);
    }

    #[test]
    fn dropped_event_is_lost_even_after_catch_up() {
        let posts = vec![post("a", "c1", 20, 25), post("b", "c1", 30, 35)];
        let idx = by_channel(&posts);
        let mut b = Book { first_hello_us: Some(10), drop_next: true, ..Default::default() };
        assert!(!b.live("a"));
        assert!(!b.rest("a"));
        assert!(b.live("b"));
        let v = b.verdict(&["c1".into()], &idx);
        assert_eq!((v.expected, v.lost.len()), (2, 1));
    }

    #[test]
    fn stopped_client_expects_only_what_was_confirmed_before() {
        let posts = vec![post("a", "c1", 20, 25), post("late", "c1", 30, 90)];
        let idx = by_channel(&posts);
        let mut b = Book { first_hello_us: Some(10), cutoff_us: Some(50), ..Default::default() };
        b.live("a");
        assert_eq!(b.verdict(&["c1".into()], &idx).expected, 1);
        let never = Book::default();
        assert_eq!(never.verdict(&["c1".into()], &idx).expected, 0, "a client that never connected expects nothing");
    }
}
