//! Two extension actors, as a binary built on Starling would write them (see `starling::extensions`):
//!
//! - [`WordFilter`]: a `MessageWillBePosted` / `MessageWillBeUpdated` hook that refuses posts with
//!   some words and masks others, a `/wordfilter` command, and `GET /plugins/wordfilter/words`.
//! - [`ChannelDigest`]: leader-only work. While its node leads, it posts a digest of a channel's
//!   traffic each period; the leadership (and so the digest) moves when the leader dies. Each period
//!   is claimed in the database first, so even two nodes that both believe they lead for a moment
//!   post it once.
//!
//! `src/bin/starling-examples.rs` is `starling serve` with both.

use actix::prelude::*;
use actix_web::{web, HttpResponse};
use starling::commands::{CommandResponse, CommandSpec, ExecuteCommand};
use starling::extensions::{Extension, Registration, StopExtension};
use starling::hooks::{MessageWillBePosted, MessageWillBeUpdated, Verdict};
use starling::server::NodeParts;
use starling::store::PostQuery;
use starling_actors::leader::{LeaderChanged, Subscribe as LeaderSubscribe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------- word filter

/// The words a [`WordFilter`] acts on (compared case-insensitively, whole words only).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Words {
    /// A post with one of these is refused.
    pub refuse: Vec<String>,
    /// These are replaced by as many `*`.
    pub mask: Vec<String>,
}

impl Words {
    /// What to do with `message`.
    pub fn judge(&self, message: &str) -> Judgement {
        let mut out = String::with_capacity(message.len());
        let mut changed = false;
        for piece in split_words(message) {
            let lower = piece.to_lowercase();
            if self.refuse.contains(&lower) {
                return Judgement::Refuse(lower);
            }
            if self.mask.contains(&lower) {
                out.extend(std::iter::repeat_n('*', piece.chars().count()));
                changed = true;
            } else {
                out.push_str(piece);
            }
        }
        if changed {
            Judgement::Rewrite(out)
        } else {
            Judgement::Keep
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Keep,
    Rewrite(String),
    Refuse(String),
}

/// `message` cut into runs of letters and digits and runs of everything else, in order.
fn split_words(message: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_word = None;
    for (i, c) in message.char_indices() {
        let w = c.is_alphanumeric();
        if in_word.is_some_and(|was| was != w) {
            out.push(&message[start..i]);
            start = i;
        }
        in_word = Some(w);
    }
    if start < message.len() {
        out.push(&message[start..]);
    }
    out
}

/// Refuses posts with some words and masks others.
pub struct WordFilter {
    pub words: Words,
}

struct FilterActor {
    words: Arc<Words>,
    changed: Arc<AtomicU64>,
}

impl FilterActor {
    fn verdict(&self, mut post: starling::hooks::DraftPost) -> Verdict {
        match self.words.judge(&post.message) {
            Judgement::Keep => Verdict::Keep,
            Judgement::Rewrite(m) => {
                self.changed.fetch_add(1, Ordering::Relaxed);
                post.message = m;
                Verdict::Replace(post)
            }
            Judgement::Refuse(w) => Verdict::Reject(format!("This server does not accept the word {w:?}.")),
        }
    }
}

impl Actor for FilterActor {
    type Context = Context<Self>;
}

impl actix::Supervised for FilterActor {}

impl Handler<MessageWillBePosted> for FilterActor {
    type Result = MessageResult<MessageWillBePosted>;
    fn handle(&mut self, msg: MessageWillBePosted, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.verdict(msg.post))
    }
}

impl Handler<MessageWillBeUpdated> for FilterActor {
    type Result = MessageResult<MessageWillBeUpdated>;
    fn handle(&mut self, msg: MessageWillBeUpdated, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.verdict(msg.new))
    }
}

impl Handler<ExecuteCommand> for FilterActor {
    type Result = Result<CommandResponse, String>;
    fn handle(&mut self, _msg: ExecuteCommand, _ctx: &mut Self::Context) -> Self::Result {
        Ok(CommandResponse::ephemeral(format!(
            "Refused: {}. Masked: {}. Posts changed on this node: {}.",
            self.words.refuse.join(", "),
            self.words.mask.join(", "),
            self.changed.load(Ordering::Relaxed)
        )))
    }
}

impl Handler<StopExtension> for FilterActor {
    type Result = ();
    fn handle(&mut self, _msg: StopExtension, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

async fn list_words(words: web::Data<Words>) -> HttpResponse {
    HttpResponse::Ok().json(words.get_ref())
}

impl Extension for WordFilter {
    fn id(&self) -> &'static str {
        "wordfilter"
    }

    fn start(self: Box<Self>, node: &NodeParts) -> Registration {
        let lower = |v: Vec<String>| v.into_iter().map(|w| w.to_lowercase()).filter(|w| !w.is_empty()).collect();
        let words = Words { refuse: lower(self.words.refuse), mask: lower(self.words.mask) };
        let shared = Arc::new(words.clone());
        let changed = Arc::new(AtomicU64::new(0));
        let addr = node.supervisor.start("wordfilter", move |_| FilterActor { words: shared, changed });
        let data = web::Data::new(words);
        Registration {
            message_will_be_posted: Some(addr.clone().recipient()),
            message_will_be_updated: Some(addr.clone().recipient()),
            commands: vec![(
                CommandSpec {
                    trigger: "wordfilter".into(),
                    description: "Show the words this server refuses or masks".into(),
                    hint: String::new(),
                },
                addr.clone().recipient(),
            )],
            routes: Some(Arc::new(move |cfg: &mut web::ServiceConfig| {
                cfg.app_data(data.clone()).route("/words", web::get().to(list_words));
            })),
            stop: Some(addr.recipient()),
        }
    }
}

// ---------------------------------------------------------------- channel digest

/// While its node leads, posts a digest of `channel_id`'s traffic every `every`, as `user_id`.
pub struct ChannelDigest {
    pub channel_id: String,
    pub user_id: String,
    pub every: Duration,
}

struct DigestActor {
    settings: ChannelDigest,
    node: NodeParts,
    ticker: Option<SpawnHandle>,
}

impl DigestActor {
    /// Post the digest of the period that just ended, once in the cluster.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let period_ms = self.settings.every.as_millis().max(1) as i64;
        let now = starling::store::now_ms();
        let period = now / period_ms;
        let (channel, user) = (self.settings.channel_id.clone(), self.settings.user_id.clone());
        let node = self.node.node_id.as_str().to_owned();
        let api = self.node.api.clone();
        let log = self.node.log.clone();
        ctx.spawn(actix::fut::wrap_future(async move {
            // Claim the period: whoever writes the row first posts it; a second leader does not.
            let key = format!("example_digest:{channel}:{period}");
            match api.store.system_value_insert_once(&key, &node).await {
                Ok(owner) if owner == node => {}
                Ok(_) => return,
                Err(e) => return slog::warn!(log, "digest: cannot claim the period"; "error" => %e),
            }
            let since = (period - 1) * period_ms;
            let posts = match api.store.channel_posts(&channel, &PostQuery::Since { since }, false).await {
                Ok(page) => page.order,
                Err(e) => return slog::warn!(log, "digest: cannot read the channel"; "error" => %e),
            };
            let counted = posts
                .iter()
                .filter(|p| p.delete_at == 0 && p.create_at >= since && p.create_at < period * period_ms)
                .filter(|p| p.props.get("from_digest").is_none())
                .count();
            let message = format!("Digest: {counted} new posts in the last {} s.", period_ms / 1000);
            let props = serde_json::json!({"from_digest": "true", "digest_period": period, "digest_node": node});
            if let Err(e) = starling::api::create_post_as(&api, &user, &channel, "", &message, props).await {
                slog::warn!(log, "digest: cannot post"; "error" => %e);
            }
        }));
    }
}

impl Actor for DigestActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        self.node.leader.do_send(LeaderSubscribe { subscriber: ctx.address().recipient() });
    }
}

impl actix::Supervised for DigestActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.ticker = None; // `started` subscribes again; the leader answers with the current one
    }
}

impl Handler<LeaderChanged> for DigestActor {
    type Result = ();
    fn handle(&mut self, msg: LeaderChanged, ctx: &mut Self::Context) {
        match (msg.is_leader, self.ticker.is_some()) {
            (true, false) => {
                slog::info!(self.node.log, "digest: this node leads, digests start here");
                self.ticker = Some(ctx.run_interval(self.settings.every, |act, ctx| act.tick(ctx)));
            }
            (false, true) => {
                slog::info!(self.node.log, "digest: another node leads"; "leader_id" => %msg.leader);
                if let Some(t) = self.ticker.take() {
                    ctx.cancel_future(t);
                }
            }
            _ => {}
        }
    }
}

impl Handler<StopExtension> for DigestActor {
    type Result = ();
    fn handle(&mut self, _msg: StopExtension, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Extension for ChannelDigest {
    fn id(&self) -> &'static str {
        "digest"
    }

    fn start(self: Box<Self>, node: &NodeParts) -> Registration {
        let parts = node.clone();
        let settings = *self;
        let addr = node.supervisor.start("digest", move |_| DigestActor { settings, node: parts, ticker: None });
        Registration { stop: Some(addr.recipient()), ..Registration::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_refused_or_masked_whole_and_in_any_case() {
        let w = Words { refuse: vec!["banana".into()], mask: vec!["darn".into()] };
        assert_eq!(w.judge("Darn, it works"), Judgement::Rewrite("****, it works".into()));
        assert_eq!(w.judge("darnation is fine"), Judgement::Keep);
        assert_eq!(w.judge("a BANANA!"), Judgement::Refuse("banana".into()));
        assert_eq!(w.judge("darn darn"), Judgement::Rewrite("**** ****".into()));
        assert_eq!(w.judge(""), Judgement::Keep);
    }
}
