//! Calling outgoing webhooks: [`OutgoingHooks`], an actor under the node's supervisor that hears
//! each new post once in the cluster (the bus's [`local_posts`](crate::extensions::local_posts):
//! `MessageHasBeenPosted` on the node that wrote it), finds the team's hooks it matches, calls
//! their callback URLs with Mattermost's fields and posts their answers. The hooks themselves are
//! managed under `/api/v4/hooks/outgoing` (`api/outgoing_hooks.rs`).
//!
//! Which posts: those in open channels, not made by a webhook (`props.from_webhook`), not system
//! messages, with at least one word, while `ServiceSettings.EnableOutgoingWebhooks` is on. A hook
//! matches a post in its channel when it has no trigger words; otherwise the post's first word
//! must be one of its trigger words (`trigger_when` 0) or start with one (1), in its channel or,
//! for a hook without one, in any open channel of its team. Looking up a team's hooks is one
//! indexed query per such post, made off the request path; a post that matches nothing costs
//! nothing more.
//!
//! The call: a POST to each callback URL, a form (`application/x-www-form-urlencoded`, the
//! default; `timestamp` in seconds, as Slack sends it) or JSON (`application/json`; `timestamp`
//! in milliseconds), with `token, team_id, team_domain, channel_id, channel_name, timestamp,
//! user_id, user_name, post_id, text, trigger_word, file_ids` (comma separated). A 2xx JSON
//! answer with `text` or `attachments` is posted in the channel as the hook's creator with
//! `props.from_webhook`, its `props`, `type`, and `override_username` / `override_icon_url` (the
//! answer's, else the hook's) when `EnablePostUsernameOverride` / `EnablePostIconOverride` allow;
//! `response_type: "comment"` posts it as a reply in the triggering post's thread.
//!
//! Guarantees:
//! - **Bounded queue**: posts wait in a queue of [`QUEUE_CAPACITY`]; when it is full the post's
//!   calls are dropped, counted in `starling_outgoing_webhook_dropped_total` and logged at warn.
//!   The actor's own mailbox only ever holds posts on their way to that queue.
//! - **Bounded calls**: at most [`MAX_CALLS_IN_FLIGHT`] calls per node at once (the queue waits
//!   meanwhile), each through [`crate::outbound`] (timeout, answer size, the
//!   AllowedUntrustedInternalConnections rules).
//! - **At most once**: before any call for a (hook, post) the node inserts a row keyed by the pair
//!   into `outgoing_webhook_calls`; only the node whose insert wins calls. A call in flight when
//!   its node dies is never retried, so its answer is posted at most once.

use crate::api::posts::{write_post, NewDraft};
use crate::api::AppState;
use crate::outbound::OutboundRequest;
use crate::store::OutgoingHook;
use actix::prelude::*;
use actix_web::web;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use starling_actors::{BusEvent, Published, Subscribe, Supervisor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

/// Posts waiting for their hooks to be looked up and called, per node (tests may set fewer
/// through `NodeBuilder::outgoing_hook_queue`).
pub const QUEUE_CAPACITY: usize = 1000;
/// Calls to callback URLs one node makes at once.
pub const MAX_CALLS_IN_FLIGHT: usize = 16;
/// How often old claims are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long a claim is kept: far past any call's timeout, so a claim is never gone while a post
/// could still be handled.
const CLAIM_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;
/// The actor's mailbox: posts only pass through it into the queue.
const MAILBOX: usize = 1024;

/// The content type that makes a call's body JSON (anything else is a form).
const JSON: &str = "application/json";

/// A new post that may trigger hooks.
#[derive(Debug, Clone, PartialEq)]
struct Trigger {
    post: PostedPost,
    team_id: String,
    channel_name: String,
    user_name: String,
}

/// What a `posted` event's post carries that a hook needs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
struct PostedPost {
    id: String,
    create_at: i64,
    user_id: String,
    channel_id: String,
    root_id: String,
    message: String,
    #[serde(rename = "type")]
    post_type: String,
    props: Value,
    file_ids: Vec<String>,
}

/// The post a `posted` event of an open channel carries, unless it cannot trigger a hook (made by
/// a webhook, a system message, no words).
fn trigger_of(event: &BusEvent) -> Option<Trigger> {
    let BusEvent::Ws(w) = event else { return None };
    if w.event != "posted" {
        return None;
    }
    let data: Value = serde_json::from_str(&w.data).ok()?;
    if data.get("channel_type").and_then(Value::as_str) != Some("O") {
        return None;
    }
    let post: PostedPost = serde_json::from_str(data.get("post")?.as_str()?).ok()?;
    if post.props.get("from_webhook").is_some_and(|v| !v.is_null()) || post.post_type.starts_with("system_") {
        return None;
    }
    if post.id.is_empty() || post.message.split_whitespace().next().is_none() {
        return None;
    }
    let text = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let sender = text("sender_name");
    Some(Trigger {
        team_id: text("team_id"),
        channel_name: text("channel_name"),
        user_name: sender.strip_prefix('@').unwrap_or(&sender).to_owned(),
        post,
    })
}

/// The trigger word `hook` fires on for a post in `channel_id` whose first word is `first_word`
/// (empty for a channel hook without words), or `None` if it does not fire.
fn trigger_word(hook: &OutgoingHook, channel_id: &str, first_word: &str) -> Option<String> {
    if !hook.channel_id.is_empty() && hook.channel_id != channel_id {
        return None;
    }
    if hook.trigger_words.is_empty() {
        return (!hook.channel_id.is_empty()).then(String::new);
    }
    match hook.trigger_when {
        0 => hook.trigger_words.iter().find(|w| *w == first_word).cloned(),
        _ => hook.trigger_words.iter().find(|w| first_word.starts_with(w.as_str())).cloned(),
    }
}

/// The fields a call sends, in Mattermost's order.
struct Payload {
    token: String,
    team_id: String,
    team_domain: String,
    channel_id: String,
    channel_name: String,
    timestamp_ms: i64,
    user_id: String,
    user_name: String,
    post_id: String,
    text: String,
    trigger_word: String,
    file_ids: String,
}

impl Payload {
    fn json(&self) -> Value {
        json!({
            "token": self.token, "team_id": self.team_id, "team_domain": self.team_domain,
            "channel_id": self.channel_id, "channel_name": self.channel_name, "timestamp": self.timestamp_ms,
            "user_id": self.user_id, "user_name": self.user_name, "post_id": self.post_id, "text": self.text,
            "trigger_word": self.trigger_word, "file_ids": self.file_ids,
        })
    }

    fn form(&self) -> Vec<(&'static str, String)> {
        vec![
            ("token", self.token.clone()),
            ("team_id", self.team_id.clone()),
            ("team_domain", self.team_domain.clone()),
            ("channel_id", self.channel_id.clone()),
            ("channel_name", self.channel_name.clone()),
            ("timestamp", (self.timestamp_ms / 1000).to_string()),
            ("user_id", self.user_id.clone()),
            ("user_name", self.user_name.clone()),
            ("post_id", self.post_id.clone()),
            ("text", self.text.clone()),
            ("trigger_word", self.trigger_word.clone()),
            ("file_ids", self.file_ids.clone()),
        ]
    }

    fn request(&self, url: &str, content_type: &str) -> Option<OutboundRequest> {
        let mut r = OutboundRequest::new(reqwest::Method::POST, url);
        if content_type == JSON {
            r.content_type = JSON.into();
            r.body = Some(self.json().to_string().into_bytes());
        } else {
            r.content_type = crate::api::outgoing_hooks::DEFAULT_CONTENT_TYPE.into();
            r.body = Some(serde_urlencoded::to_string(self.form()).ok()?.into_bytes());
        }
        r.headers = vec![("Accept".into(), JSON.into())];
        Some(r)
    }
}

/// A callback's answer (Mattermost's OutgoingWebhookResponse).
#[derive(Debug, Default, PartialEq)]
struct HookAnswer {
    text: String,
    username: String,
    icon_url: String,
    props: Map<String, Value>,
    attachments: Vec<Value>,
    post_type: String,
    response_type: String,
}

impl HookAnswer {
    /// Read an answer from a JSON object, whatever its content type says (as Mattermost does).
    /// A field of the wrong type (or `null`) counts as absent; what is not a JSON object is no
    /// answer at all.
    fn from_body(body: &[u8]) -> Option<Self> {
        let Value::Object(mut m) = serde_json::from_slice(body).ok()? else { return None };
        let mut string = |k: &str| match m.remove(k) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        Some(Self {
            text: string("text"),
            username: string("username"),
            icon_url: string("icon_url"),
            post_type: string("type"),
            response_type: string("response_type"),
            props: match m.remove("props") {
                Some(Value::Object(p)) => p,
                _ => Map::new(),
            },
            attachments: match m.remove("attachments") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            },
        })
    }

    fn is_empty(&self) -> bool {
        self.text.trim().is_empty() && self.attachments.is_empty()
    }
}

/// Hears new posts and hands them to the queue.
pub struct OutgoingHooks {
    state: web::Data<AppState>,
    queue: mpsc::Sender<Trigger>,
    capacity: usize,
    permits: Arc<Semaphore>,
    log: slog::Logger,
}

/// Start the actor under `supervisor` with a queue of `capacity` posts ([`QUEUE_CAPACITY`]) and
/// subscribe it to this node's new posts.
pub fn start(state: &web::Data<AppState>, supervisor: &Supervisor, capacity: usize) -> Addr<OutgoingHooks> {
    let log = state.log.new(slog::o!("component" => "outgoing_webhooks"));
    let permits = Arc::new(Semaphore::new(MAX_CALLS_IN_FLIGHT));
    let queue = spawn_worker(state.clone(), capacity, permits.clone(), log.clone());
    let s = state.clone();
    let addr =
        supervisor.start("outgoing_webhooks", move |_| OutgoingHooks { state: s, queue, capacity, permits, log });
    state.events.bus().do_send(Subscribe {
        subscriber: addr.clone().recipient::<Published>(),
        filter: crate::extensions::local_posts(),
    });
    addr
}

impl Actor for OutgoingHooks {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        ctx.run_interval(PRUNE_EVERY, |act, _| {
            let (store, log) = (act.state.store.clone(), act.log.clone());
            actix::spawn(async move {
                let before = crate::store::now_ms() - CLAIM_RETENTION_MS;
                if let Err(e) = store.prune_outgoing_calls(before).await {
                    slog::info!(log, "outgoing webhook claims not pruned"; "error" => %e);
                }
            });
        });
    }
}

impl actix::Supervised for OutgoingHooks {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // The queue and its worker outlive the actor; only what was in its mailbox is gone.
    }
}

starling_actors::restartable!(OutgoingHooks);

impl Handler<Published> for OutgoingHooks {
    type Result = ();
    fn handle(&mut self, msg: Published, _ctx: &mut Self::Context) {
        let on = self.state.config.read().map(|c| c.service_settings.enable_outgoing_webhooks).unwrap_or(false);
        if !on {
            return;
        }
        let Some(trigger) = trigger_of(&msg.event) else { return };
        let trigger = match self.queue.try_send(trigger) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(_)) => return self.dropped("the queue is full"),
            Err(mpsc::error::TrySendError::Closed(t)) => t,
        };
        // The worker stopped (it panicked): a new one takes the queue from here.
        slog::warn!(self.log, "outgoing webhook worker restarted");
        self.queue = spawn_worker(self.state.clone(), self.capacity, self.permits.clone(), self.log.clone());
        if self.queue.try_send(trigger).is_err() {
            self.dropped("the worker is not running");
        }
    }
}

impl OutgoingHooks {
    fn dropped(&self, why: &str) {
        self.state.metrics.outgoing_webhooks_dropped.inc();
        slog::warn!(self.log, "outgoing webhook post dropped"; "reason" => why, "capacity" => self.capacity);
    }
}

fn spawn_worker(
    state: web::Data<AppState>,
    capacity: usize,
    permits: Arc<Semaphore>,
    log: slog::Logger,
) -> mpsc::Sender<Trigger> {
    let (tx, mut rx) = mpsc::channel::<Trigger>(capacity.max(1));
    actix::spawn(async move {
        while let Some(t) = rx.recv().await {
            if let Err(e) = dispatch(&state, &permits, t, &log).await {
                slog::warn!(log, "outgoing webhooks not looked up"; "error" => %e);
            }
        }
    });
    tx
}

/// Find the post's hooks, claim each, and start its calls (waiting for a free call slot).
async fn dispatch(
    state: &web::Data<AppState>,
    permits: &Arc<Semaphore>,
    t: Trigger,
    log: &slog::Logger,
) -> crate::store::StoreResult<()> {
    let first_word = t.post.message.split_whitespace().next().unwrap_or("");
    let matched: Vec<(OutgoingHook, String)> = state
        .store
        .team_outgoing_hooks(&t.team_id)
        .await?
        .into_iter()
        .filter_map(|h| trigger_word(&h, &t.post.channel_id, first_word).map(|w| (h, w)))
        .collect();
    if matched.is_empty() {
        return Ok(());
    }
    let team_domain = state.store.team(&t.team_id).await?.map(|team| team.name).unwrap_or_default();
    let t = Arc::new(t);
    for (hook, trigger_word) in matched {
        if !state.store.claim_outgoing_call(&hook.id, &t.post.id, &state.node_id).await? {
            continue; // claimed before: called already, or being called
        }
        let payload = Arc::new(Payload {
            token: hook.token.clone(),
            team_id: t.team_id.clone(),
            team_domain: team_domain.clone(),
            channel_id: t.post.channel_id.clone(),
            channel_name: t.channel_name.clone(),
            timestamp_ms: t.post.create_at,
            user_id: t.post.user_id.clone(),
            user_name: t.user_name.clone(),
            post_id: t.post.id.clone(),
            text: t.post.message.clone(),
            trigger_word,
            file_ids: t.post.file_ids.join(","),
        });
        let hook = Arc::new(hook);
        for url in hook.callback_urls.clone() {
            let Ok(permit) = permits.clone().acquire_owned().await else { return Ok(()) }; // never closed
            let (state, hook, payload, t, log) = (state.clone(), hook.clone(), payload.clone(), t.clone(), log.clone());
            actix::spawn(async move {
                let outcome = call(&state, &hook, &url, &payload, &t.post).await;
                drop(permit);
                state.metrics.outgoing_webhook_calls.with_label_values(&[outcome.label()]).inc();
                if let Outcome::Failed(why) = outcome {
                    slog::info!(log, "outgoing webhook call failed";
                        "hook_id" => &hook.id, "channel_id" => &t.post.channel_id, "error" => why);
                }
            });
        }
    }
    Ok(())
}

/// How one call ended.
enum Outcome {
    Posted,
    NothingToPost,
    Failed(String),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Posted => "posted",
            Outcome::NothingToPost => "answered",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// Call one URL and post what it answers.
async fn call(state: &AppState, hook: &OutgoingHook, url: &str, payload: &Payload, post: &PostedPost) -> Outcome {
    let Some(req) = payload.request(url, &hook.content_type) else {
        return Outcome::Failed("the payload could not be encoded".into());
    };
    let reply = match state.outbound.send(req).await {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if !(200..300).contains(&reply.status) {
        return Outcome::Failed(format!("the callback answered with status {}", reply.status));
    }
    let Some(answer) = HookAnswer::from_body(&reply.body) else { return Outcome::NothingToPost };
    if answer.is_empty() {
        return Outcome::NothingToPost;
    }
    match post_answer(state, hook, post, answer).await {
        Ok(()) => Outcome::Posted,
        Err(why) => Outcome::Failed(why),
    }
}

/// Post a callback's answer in the triggering post's channel (or thread), as the hook's creator.
async fn post_answer(state: &AppState, hook: &OutgoingHook, post: &PostedPost, a: HookAnswer) -> Result<(), String> {
    if a.post_type.starts_with("system_") {
        return Err("the answer's type is a system type".into());
    }
    let store_error = |e: crate::store::StoreError| e.to_string();
    let channel = state.store.channel(&post.channel_id).await.map_err(store_error)?;
    let channel = channel.filter(|c| c.delete_at == 0).ok_or("the channel is gone")?;
    let creator = state.store.user(&hook.creator_id).await.map_err(store_error)?;
    let creator = creator.filter(|u| u.delete_at == 0).ok_or("the hook's creator is deactivated")?;
    let root_id = match a.response_type.as_str() {
        "comment" if post.root_id.is_empty() => post.id.clone(),
        "comment" => post.root_id.clone(),
        _ => String::new(),
    };
    let s = state.config().service_settings;
    let mut props = a.props;
    props.insert("from_webhook".into(), json!("true"));
    props.insert("webhook_display_name".into(), json!(hook.display_name));
    if !a.attachments.is_empty() {
        props.insert("attachments".into(), Value::Array(a.attachments));
    }
    let pick = |sent: String, configured: &str| if sent.is_empty() { configured.to_owned() } else { sent };
    let username = pick(a.username, &hook.username);
    if s.enable_post_username_override && !username.is_empty() {
        props.insert("override_username".into(), json!(username));
    }
    let icon_url = pick(a.icon_url, &hook.icon_url);
    if s.enable_post_icon_override && !icon_url.is_empty() {
        props.insert("override_icon_url".into(), json!(icon_url));
    }
    let draft = NewDraft {
        user_id: creator.id,
        channel,
        root_id,
        message: a.text,
        props: Value::Object(props),
        file_ids: vec![],
        post_type: a.post_type,
        pending_post_id: String::new(),
    };
    write_post(state, draft).await.map(|_| ()).map_err(|e| e.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use starling_protocol::{Broadcast, WsEvent};

    fn hook(channel_id: &str, words: &[&str], when: i32) -> OutgoingHook {
        OutgoingHook {
            id: "h".into(),
            token: "t".into(),
            create_at: 0,
            update_at: 0,
            delete_at: 0,
            creator_id: "u".into(),
            channel_id: channel_id.into(),
            team_id: "team".into(),
            trigger_words: words.iter().map(|s| s.to_string()).collect(),
            trigger_when: when,
            callback_urls: vec!["http://x".into()],
            display_name: String::new(),
            description: String::new(),
            content_type: String::new(),
            username: String::new(),
            icon_url: String::new(),
        }
    }

    #[test]
    fn hooks_fire_on_their_channel_and_first_words() {
        let exact = hook("", &["deploy", "ship"], 0);
        assert_eq!(trigger_word(&exact, "c1", "ship"), Some("ship".into()));
        assert_eq!(trigger_word(&exact, "c1", "shipit"), None, "exact match only");
        let prefix = hook("", &["ship"], 1);
        assert_eq!(trigger_word(&prefix, "c1", "shipit"), Some("ship".into()), "the trigger word itself is sent");
        let channel_only = hook("c1", &[], 0);
        assert_eq!(trigger_word(&channel_only, "c1", "anything"), Some(String::new()));
        assert_eq!(trigger_word(&channel_only, "c2", "anything"), None);
        let both = hook("c1", &["go"], 0);
        assert_eq!(trigger_word(&both, "c1", "go"), Some("go".into()));
        assert_eq!(trigger_word(&both, "c1", "stop"), None);
        assert_eq!(trigger_word(&both, "c2", "go"), None);
    }

    fn posted(channel_type: &str, post: Value) -> BusEvent {
        let data = json!({"channel_type": channel_type, "channel_name": "town", "team_id": "team",
            "sender_name": "@alice", "post": post.to_string()});
        BusEvent::Ws(WsEvent::new("posted", data.to_string(), Broadcast::default()))
    }

    #[test]
    fn only_plain_posts_of_open_channels_trigger() {
        let p = json!({"id": "p1", "channel_id": "c1", "user_id": "u1", "message": "deploy now", "create_at": 5000,
            "file_ids": ["f1", "f2"], "props": {}});
        let t = trigger_of(&posted("O", p.clone())).expect("a plain post triggers");
        assert_eq!((t.user_name.as_str(), t.channel_name.as_str(), t.team_id.as_str()), ("alice", "town", "team"));
        assert_eq!(t.post.file_ids, vec!["f1", "f2"]);
        assert!(trigger_of(&posted("P", p.clone())).is_none(), "private channel");
        assert!(trigger_of(&posted("D", p.clone())).is_none(), "direct message");
        let mut from_hook = p.clone();
        from_hook["props"] = json!({"from_webhook": "true"});
        assert!(trigger_of(&posted("O", from_hook)).is_none(), "a webhook's post");
        let mut system = p.clone();
        system["type"] = json!("system_join_channel");
        assert!(trigger_of(&posted("O", system)).is_none(), "a system message");
        let mut blank = p;
        blank["message"] = json!("   ");
        assert!(trigger_of(&posted("O", blank)).is_none(), "no words");
    }

    #[test]
    fn answers_are_read_leniently() {
        let a =
            HookAnswer::from_body(br#"{"text":"hi","props":null,"attachments":[{"text":"a"}],"type":"x"}"#).unwrap();
        assert_eq!((a.text.as_str(), a.post_type.as_str(), a.attachments.len()), ("hi", "x", 1));
        assert!(a.props.is_empty() && !a.is_empty());
        assert!(HookAnswer::from_body(br#"{"text":5,"username":null}"#).unwrap().is_empty(), "no text");
        assert!(HookAnswer::from_body(br#"{"text":"  "}"#).unwrap().is_empty());
        assert_eq!(HookAnswer::from_body(b"[1]"), None);
        assert_eq!(HookAnswer::from_body(b"plain text"), None);
    }

    #[test]
    fn forms_send_seconds_and_json_milliseconds() {
        let p = Payload {
            token: "tok".into(),
            team_id: "t".into(),
            team_domain: "d".into(),
            channel_id: "c".into(),
            channel_name: "n".into(),
            timestamp_ms: 1_700_000_123_456,
            user_id: "u".into(),
            user_name: "alice".into(),
            post_id: "p".into(),
            text: "a b&c".into(),
            trigger_word: "a".into(),
            file_ids: "f1,f2".into(),
        };
        let form = p.request("http://x/", "").unwrap();
        assert_eq!(form.content_type, "application/x-www-form-urlencoded");
        let body: Vec<(String, String)> = serde_urlencoded::from_bytes(form.body.as_deref().unwrap()).unwrap();
        assert!(body.contains(&("timestamp".into(), "1700000123".into())));
        assert!(body.contains(&("text".into(), "a b&c".into())));
        let j = p.request("http://x/", "application/json").unwrap();
        let v: Value = serde_json::from_slice(j.body.as_deref().unwrap()).unwrap();
        assert_eq!((v["timestamp"].as_i64(), v["file_ids"].as_str()), (Some(1_700_000_123_456), Some("f1,f2")));
    }
}
