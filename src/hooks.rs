//! Hooks that run before a post is written: Mattermost's `MessageWillBePosted` and
//! `MessageWillBeUpdated`. Extensions (in process) and plugins (out of process) register them;
//! they run in registration order, each may keep the post, replace its message and props, or
//! refuse it (the chain stops: 400).
//!
//! A hook that does not answer within [`HOOK_DEADLINE`], or whose actor is gone, is skipped: the
//! post goes on as it was (fail-open, as Mattermost's plugin hooks do), so a slow or broken
//! extension never blocks or loses a post. Each such skip is counted
//! (`starling_hook_failures_total{owner, hook, reason}`) and logged.

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How long one hook may take before it is skipped.
pub const HOOK_DEADLINE: Duration = Duration::from_secs(2);

/// A post about to be written (or its new version), as a hook sees it. A hook may change the
/// message, the props and the file ids; the rest is kept as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftPost {
    /// Empty for a new post.
    #[serde(default)]
    pub id: String,
    pub user_id: String,
    pub channel_id: String,
    #[serde(default)]
    pub root_id: String,
    pub message: String,
    #[serde(default)]
    pub props: Value,
    #[serde(default)]
    pub file_ids: Vec<String>,
    #[serde(default, rename = "type")]
    pub post_type: String,
}

/// What a hook decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Keep,
    Replace(DraftPost),
    /// Refuse the post, saying why (shown to the author).
    Reject(String),
}

/// Before a new post is written.
#[derive(Debug, Message)]
#[rtype(result = "Verdict")]
pub struct MessageWillBePosted {
    pub post: DraftPost,
}

/// Before an edit is written.
#[derive(Debug, Message)]
#[rtype(result = "Verdict")]
pub struct MessageWillBeUpdated {
    pub new: DraftPost,
    pub old: DraftPost,
}

/// Why a post was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The extension or plugin that refused it.
    pub by: String,
    pub reason: String,
}

#[derive(Clone)]
struct Registered {
    owner: String,
    posted: Option<Recipient<MessageWillBePosted>>,
    updated: Option<Recipient<MessageWillBeUpdated>>,
}

/// The node's hooks, in the order they run. Extensions register at start; plugins when they are
/// activated (and unregister when deactivated).
#[derive(Default)]
pub struct Hooks {
    hooks: RwLock<Vec<Registered>>,
    /// Skipped hooks, by (owner, hook, reason).
    failures: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    log: RwLock<Option<slog::Logger>>,
}

impl Hooks {
    pub fn new(log: slog::Logger) -> Arc<Self> {
        Arc::new(Self { log: RwLock::new(Some(log)), ..Self::default() })
    }

    /// Add `owner`'s hooks after the others (replacing what `owner` registered before).
    pub fn register(
        &self,
        owner: &str,
        posted: Option<Recipient<MessageWillBePosted>>,
        updated: Option<Recipient<MessageWillBeUpdated>>,
    ) {
        let mut hooks = self.hooks.write().unwrap_or_else(|p| p.into_inner());
        hooks.retain(|h| h.owner != owner);
        if posted.is_some() || updated.is_some() {
            hooks.push(Registered { owner: owner.to_owned(), posted, updated });
        }
    }

    pub fn unregister(&self, owner: &str) {
        self.hooks.write().unwrap_or_else(|p| p.into_inner()).retain(|h| h.owner != owner);
    }

    fn snapshot(&self) -> Vec<Registered> {
        self.hooks.read().map(|h| h.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    fn skipped(&self, owner: &str, hook: &'static str, reason: &'static str) {
        if let Ok(mut f) = self.failures.lock() {
            *f.entry((owner.to_owned(), hook, reason)).or_default() += 1;
        }
        if let Some(log) = self.log.read().ok().and_then(|l| l.clone()) {
            slog::warn!(log, "hook skipped, the post goes on unchanged"; "owner" => owner, "hook" => hook, "reason" => reason);
        }
    }

    /// Skipped hooks so far, for metrics.
    pub fn failures(&self) -> BTreeMap<(String, &'static str, &'static str), u64> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Run every `MessageWillBePosted` hook on `post`, in order.
    pub async fn message_will_be_posted(&self, mut post: DraftPost) -> Result<DraftPost, Rejected> {
        for h in self.snapshot() {
            let Some(r) = h.posted else { continue };
            let answer = tokio::time::timeout(HOOK_DEADLINE, r.send(MessageWillBePosted { post: post.clone() })).await;
            post = self.apply(&h.owner, "message_will_be_posted", answer, post)?;
        }
        Ok(post)
    }

    /// Run every `MessageWillBeUpdated` hook on `new` (the edit of `old`), in order.
    pub async fn message_will_be_updated(&self, mut new: DraftPost, old: &DraftPost) -> Result<DraftPost, Rejected> {
        for h in self.snapshot() {
            let Some(r) = h.updated else { continue };
            let msg = MessageWillBeUpdated { new: new.clone(), old: old.clone() };
            let answer = tokio::time::timeout(HOOK_DEADLINE, r.send(msg)).await;
            new = self.apply(&h.owner, "message_will_be_updated", answer, new)?;
        }
        Ok(new)
    }

    fn apply(
        &self,
        owner: &str,
        hook: &'static str,
        answer: Result<Result<Verdict, MailboxError>, tokio::time::error::Elapsed>,
        post: DraftPost,
    ) -> Result<DraftPost, Rejected> {
        match answer {
            Ok(Ok(Verdict::Keep)) => Ok(post),
            Ok(Ok(Verdict::Replace(p))) => Ok(DraftPost {
                message: p.message,
                props: if p.props.is_object() { p.props } else { post.props.clone() },
                file_ids: p.file_ids,
                ..post
            }),
            Ok(Ok(Verdict::Reject(reason))) => Err(Rejected { by: owner.to_owned(), reason }),
            Ok(Err(_)) => {
                self.skipped(owner, hook, "gone");
                Ok(post)
            }
            Err(_) => {
                self.skipped(owner, hook, "timeout");
                Ok(post)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hook that answers as told, after `delay`.
    struct Scripted {
        verdict: Verdict,
        delay: Duration,
    }
    impl Actor for Scripted {
        type Context = Context<Self>;
    }
    impl Handler<MessageWillBePosted> for Scripted {
        type Result = ResponseFuture<Verdict>;
        fn handle(&mut self, _msg: MessageWillBePosted, _ctx: &mut Self::Context) -> Self::Result {
            let (v, d) = (self.verdict.clone(), self.delay);
            Box::pin(async move {
                tokio::time::sleep(d).await;
                v
            })
        }
    }

    fn draft(message: &str) -> DraftPost {
        DraftPost {
            id: String::new(),
            user_id: "u".into(),
            channel_id: "c".into(),
            root_id: String::new(),
            message: message.into(),
            props: serde_json::json!({}),
            file_ids: vec![],
            post_type: String::new(),
        }
    }

    fn hook(verdict: Verdict, delay_ms: u64) -> Recipient<MessageWillBePosted> {
        Scripted { verdict, delay: Duration::from_millis(delay_ms) }.start().recipient()
    }

    #[actix::test]
    async fn hooks_run_in_order_a_slow_one_is_skipped_and_a_refusal_stops_the_chain() {
        tokio::time::pause();
        let hooks = Hooks::new(slog::Logger::root(slog::Discard, slog::o!()));
        let mut rewritten = draft("darn it");
        rewritten.message = "**** it".into();
        rewritten.user_id = "someone-else".into(); // not a hook's to change
        hooks.register("filter", Some(hook(Verdict::Replace(rewritten), 0)), None);
        hooks.register("slow", Some(hook(Verdict::Reject("late".into()), 60_000)), None);
        let out = hooks.message_will_be_posted(draft("darn it")).await.expect("not refused");
        assert_eq!((out.message.as_str(), out.user_id.as_str()), ("**** it", "u"));
        assert_eq!(hooks.failures().get(&("slow".into(), "message_will_be_posted", "timeout")), Some(&1));
        hooks.register("guard", Some(hook(Verdict::Reject("no bananas".into()), 0)), None);
        let refused = hooks.message_will_be_posted(draft("bananas")).await.unwrap_err();
        assert_eq!(refused, Rejected { by: "guard".into(), reason: "no bananas".into() });
        hooks.unregister("guard");
        hooks.unregister("slow");
        assert!(hooks.message_will_be_posted(draft("bananas")).await.is_ok());
    }
}
