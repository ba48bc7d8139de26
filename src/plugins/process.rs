//! `PluginProcess`: one running plugin, a child process that speaks newline-delimited JSON-RPC 2.0
//! over its stdin and stdout (the protocol is in `docs/plugins.md`). The actor owns the pipe:
//! it sends the node's calls (hooks, commands, HTTP requests, health pings) and answers the
//! plugin's calls into the node's plugin API. It does not restart anything itself: when the
//! process exits it tells its host ([`ProcessExited`]), which decides.
//!
//! Bounds, and what happens when one is reached:
//! - lines are at most [`MAX_LINE`] bytes either way; a longer line from the plugin is dropped
//!   (and logged);
//! - at most [`OUT_QUEUE`] lines wait for the plugin's stdin: a call or notification that finds it
//!   full fails at once (a hook then goes on without this plugin, as on a timeout);
//! - at most [`MAX_PENDING`] calls wait for answers (more fail at once), each until its timeout;
//! - at most [`MAX_API_IN_FLIGHT`] of the plugin's own calls run at once; more are answered with
//!   an error (`-32000`, busy) straight away.

use crate::commands::{CommandResponse, ExecuteCommand};
use crate::hooks::{DraftPost, MessageWillBePosted, MessageWillBeUpdated, Verdict, HOOK_DEADLINE};
use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};
use starling_actors::Published;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

/// The longest line either side may send.
pub const MAX_LINE: usize = 8 << 20;
/// Lines waiting for the plugin's stdin at most.
pub const OUT_QUEUE: usize = 256;
/// The node's calls waiting for the plugin's answers at most.
pub const MAX_PENDING: usize = 512;
/// The plugin's calls into the node running at once at most.
pub const MAX_API_IN_FLIGHT: usize = 32;
/// How long `activate` may take.
pub const ACTIVATE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `deactivate` may take before the process is killed.
pub const DEACTIVATE_TIMEOUT: Duration = Duration::from_secs(5);

/// A JSON-RPC error, either way.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
    /// The method does not exist (-32601).
    pub fn no_method(method: &str) -> Self {
        Self::new(-32601, format!("no method {method:?}"))
    }
    /// The params are wrong (-32602).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(-32602, message)
    }
    /// The node could not do it (-32000).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(-32000, message)
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// What the node offers a plugin (its API), called with the plugin's id.
pub trait HostApi: 'static {
    fn call(
        &self,
        plugin_id: String,
        method: String,
        params: Value,
    ) -> LocalBoxFuture<'static, Result<Value, RpcError>>;
}

/// How to start a plugin.
pub struct Launch {
    pub plugin_id: String,
    /// Counts the host's starts of this plugin, so a late exit of an old process is told apart.
    pub generation: u64,
    /// The plugin's root directory (its working directory).
    pub root: PathBuf,
    pub executable: crate::plugins::bundle::Executable,
    pub api: Arc<dyn HostApi>,
    pub exited: Recipient<ProcessExited>,
    pub log: slog::Logger,
}

/// The plugin's process ended (or could not be read any more).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ProcessExited {
    pub plugin_id: String,
    pub generation: u64,
    /// How it ended, for the status and the log.
    pub how: String,
}

/// Call a method of the plugin and wait (at most `timeout`) for its answer.
#[derive(Debug, Message)]
#[rtype(result = "Result<Value, RpcError>")]
pub struct Call {
    pub method: String,
    pub params: Value,
    pub timeout: Duration,
}

/// Tell the plugin something (no answer). False if it could not be queued.
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub struct Notify {
    pub method: String,
    pub params: Value,
}

/// Ask the plugin to deactivate, then end the process.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// The process is gone: fail what waits, and stop.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Ended;

/// Drop calls nobody waits for any more.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Forget(u64);

pub struct PluginProcess {
    plugin_id: String,
    out: mpsc::Sender<String>,
    pending: HashMap<u64, oneshot::Sender<Result<Value, RpcError>>>,
    next_id: u64,
    api: Arc<dyn HostApi>,
    api_in_flight: Arc<AtomicUsize>,
    kill: Option<oneshot::Sender<()>>,
    /// Notifications dropped because the plugin's stdin queue was full.
    dropped: u64,
    log: slog::Logger,
}

/// The interpreter for a Python plugin: the bundle's own virtualenv first, then `python3`.
fn python(root: &std::path::Path) -> PathBuf {
    for venv in ["venv", ".venv"] {
        let p = root.join(venv).join("bin").join("python");
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from("python3")
}

impl PluginProcess {
    /// Start the process and its actor. The process gets a clean environment (no secrets of the
    /// node's): `PATH`, `LANG`, `HOME` (its directory) and `STARLING_PLUGIN_ID`.
    pub fn launch(l: Launch) -> Result<Addr<PluginProcess>, String> {
        let exe = l.root.join(&l.executable.path);
        let mut cmd = if l.executable.python {
            let mut c = tokio::process::Command::new(python(&l.root));
            c.arg(&exe);
            c
        } else {
            tokio::process::Command::new(&exe)
        };
        cmd.current_dir(&l.root)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()))
            .env("LANG", "C.UTF-8")
            .env("HOME", &l.root)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("STARLING_PLUGIN_ID", &l.plugin_id)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| format!("the plugin could not be started: {e}"))?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("the plugin's pipes could not be opened".into());
        };
        let log = l.log.new(slog::o!("plugin_id" => l.plugin_id.clone(), "pid" => child.id().unwrap_or(0)));

        let (out, mut lines) = mpsc::channel::<String>(OUT_QUEUE);
        tokio::spawn(async move {
            while let Some(mut line) = lines.recv().await {
                line.push('\n');
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                    break; // the process is gone; its exit is reported by the waiter
                }
            }
        });
        {
            let log = log.clone();
            tokio::spawn(async move {
                use futures_util::StreamExt;
                let mut err = FramedRead::new(stderr, LinesCodec::new_with_max_length(64 * 1024));
                while let Some(line) = err.next().await {
                    match line {
                        Ok(line) => slog::info!(log, "plugin stderr"; "source" => "plugin_stderr", "line" => line),
                        Err(LinesCodecError::MaxLineLengthExceeded) => continue,
                        Err(_) => break,
                    }
                }
            });
        }
        let (kill, killed) = oneshot::channel::<()>();
        let (plugin_id, generation, exited) = (l.plugin_id.clone(), l.generation, l.exited);
        let waiter_log = log.clone();
        let addr = PluginProcess::create(move |ctx| {
            ctx.add_stream(FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE)));
            let me = ctx.address();
            tokio::spawn(async move {
                let how = tokio::select! {
                    status = child.wait() => match status {
                        Ok(s) => describe_exit(s),
                        Err(e) => format!("the plugin could not be waited for: {e}"),
                    },
                    _ = killed => {
                        let _ = child.kill().await;
                        "stopped".to_owned()
                    }
                };
                slog::info!(waiter_log, "plugin process ended"; "how" => &how);
                me.do_send(Ended);
                exited.do_send(ProcessExited { plugin_id, generation, how });
            });
            PluginProcess {
                plugin_id: l.plugin_id,
                out,
                pending: HashMap::new(),
                next_id: 1,
                api: l.api,
                api_in_flight: Arc::default(),
                kill: Some(kill),
                dropped: 0,
                log,
            }
        });
        Ok(addr)
    }

    fn send_line(&mut self, v: Value) -> bool {
        match serde_json::to_string(&v) {
            Ok(line) if line.len() <= MAX_LINE => self.out.try_send(line).is_ok(),
            _ => false,
        }
    }

    /// A line from the plugin: an answer to one of our calls, or a call of its own.
    fn received(&mut self, line: &str, ctx: &mut Context<Self>) {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            slog::warn!(self.log, "plugin sent a line that is not JSON; ignored"; "bytes" => line.len());
            return;
        };
        if let Some(method) = msg.get("method").and_then(Value::as_str) {
            let params = msg.get("params").cloned().unwrap_or(Value::Null);
            let id = msg.get("id").cloned().filter(|i| !i.is_null());
            self.plugin_called(method.to_owned(), params, id, ctx);
            return;
        }
        let Some(id) = msg.get("id").and_then(Value::as_u64) else { return };
        let Some(waiter) = self.pending.remove(&id) else { return }; // timed out already
        let answer = match msg.get("error") {
            Some(e) if !e.is_null() => Err(RpcError::new(
                e.get("code").and_then(Value::as_i64).unwrap_or(-32000),
                e.get("message").and_then(Value::as_str).unwrap_or("error"),
            )),
            _ => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
        };
        let _ = waiter.send(answer);
    }

    fn plugin_called(&mut self, method: String, params: Value, id: Option<Value>, _ctx: &mut Context<Self>) {
        let Some(id) = id else {
            // A notification: only `log` is one.
            if method == "log" {
                log_from_plugin(&self.log, &params);
            }
            return;
        };
        if self.api_in_flight.load(Ordering::Relaxed) >= MAX_API_IN_FLIGHT {
            let e = RpcError::failed("busy: too many calls in flight");
            self.send_line(json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}}));
            return;
        }
        if method == "log" {
            log_from_plugin(&self.log, &params);
            self.send_line(json!({"jsonrpc": "2.0", "id": id, "result": null}));
            return;
        }
        self.api_in_flight.fetch_add(1, Ordering::Relaxed);
        let (api, in_flight, out, plugin) =
            (self.api.clone(), self.api_in_flight.clone(), self.out.clone(), self.plugin_id.clone());
        actix::spawn(async move {
            let answer = api.call(plugin, method, params).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let reply = match answer {
                Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}}),
            };
            if let Ok(line) = serde_json::to_string(&reply) {
                // Waits for room: the plugin is waiting for this answer.
                let _ = out.send(line).await;
            }
        });
    }

    /// Send a call; the answer arrives on the returned channel.
    fn start_call(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<(u64, oneshot::Receiver<Result<Value, RpcError>>), RpcError> {
        if self.pending.len() >= MAX_PENDING {
            return Err(RpcError::failed("the plugin has too many calls waiting"));
        }
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        if !self.send_line(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})) {
            return Err(RpcError::failed("the plugin is not reading its input"));
        }
        self.pending.insert(id, tx);
        Ok((id, rx))
    }

    /// Call and wait at most `timeout`.
    fn call(&mut self, method: &str, params: Value, timeout: Duration, ctx: &mut Context<Self>) -> CallFuture {
        let started = self.start_call(method, params);
        let me = ctx.address();
        Box::pin(async move {
            let (id, rx) = started?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(RpcError::failed("the plugin stopped")),
                Err(_) => {
                    me.do_send(Forget(id));
                    Err(RpcError::failed("the plugin did not answer in time"))
                }
            }
        })
    }
}

type CallFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, RpcError>>>>;

fn describe_exit(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(code), _) => format!("the plugin exited with status {code}"),
        (None, Some(sig)) => format!("the plugin was killed by signal {sig}"),
        _ => "the plugin exited".to_owned(),
    }
}

fn log_from_plugin(log: &slog::Logger, params: &Value) {
    let message = params.get("message").and_then(Value::as_str).unwrap_or("");
    let fields = params.get("fields").map(|f| f.to_string()).unwrap_or_default();
    match params.get("level").and_then(Value::as_str).unwrap_or("info") {
        "debug" => slog::debug!(log, "{}", message; "source" => "plugin", "fields" => fields),
        "warn" => slog::warn!(log, "{}", message; "source" => "plugin", "fields" => fields),
        "error" => slog::error!(log, "{}", message; "source" => "plugin", "fields" => fields),
        _ => slog::info!(log, "{}", message; "source" => "plugin", "fields" => fields),
    }
}

impl Actor for PluginProcess {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAX_PENDING);
    }
    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
    }
}

impl StreamHandler<Result<String, LinesCodecError>> for PluginProcess {
    fn handle(&mut self, item: Result<String, LinesCodecError>, ctx: &mut Self::Context) {
        match item {
            Ok(line) => self.received(&line, ctx),
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                slog::warn!(self.log, "plugin sent a line over the limit; dropped"; "limit" => MAX_LINE)
            }
            Err(e) => slog::warn!(self.log, "plugin output could not be read"; "error" => %e),
        }
    }
    fn finished(&mut self, _ctx: &mut Self::Context) {
        // stdout closed: the process is ending; the waiter reports it.
    }
}

impl Handler<Ended> for PluginProcess {
    type Result = ();
    fn handle(&mut self, _msg: Ended, ctx: &mut Self::Context) {
        self.kill = None;
        for (_, w) in self.pending.drain() {
            let _ = w.send(Err(RpcError::failed("the plugin stopped")));
        }
        ctx.stop();
    }
}

impl Handler<Forget> for PluginProcess {
    type Result = ();
    fn handle(&mut self, msg: Forget, _ctx: &mut Self::Context) {
        self.pending.remove(&msg.0);
    }
}

impl Handler<Call> for PluginProcess {
    type Result = ResponseFuture<Result<Value, RpcError>>;
    fn handle(&mut self, msg: Call, ctx: &mut Self::Context) -> Self::Result {
        self.call(&msg.method, msg.params, msg.timeout, ctx)
    }
}

impl Handler<Notify> for PluginProcess {
    type Result = bool;
    fn handle(&mut self, msg: Notify, _ctx: &mut Self::Context) -> bool {
        let sent = self.send_line(json!({"jsonrpc": "2.0", "method": msg.method, "params": msg.params}));
        if !sent {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                slog::warn!(self.log, "plugin notifications dropped: its input is full"; "dropped" => self.dropped);
            }
        }
        sent
    }
}

impl Handler<Shutdown> for PluginProcess {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _msg: Shutdown, ctx: &mut Self::Context) -> Self::Result {
        let alive = self.kill.is_some();
        let bye = if alive { Some(self.call("deactivate", json!({}), DEACTIVATE_TIMEOUT, ctx)) } else { None };
        Box::pin(
            async move {
                if let Some(bye) = bye {
                    let _ = bye.await;
                }
            }
            .into_actor(self)
            .map(|(), act, ctx| {
                if let Some(k) = act.kill.take() {
                    let _ = k.send(());
                }
                for (_, w) in act.pending.drain() {
                    let _ = w.send(Err(RpcError::failed("the plugin stopped")));
                }
                ctx.stop();
            }),
        )
    }
}

/// The plugin's verdict on a post: `{"post": {...}}` replaces it, `{"rejected": "why"}` refuses
/// it, anything else (or an error) keeps it.
fn verdict(answer: Result<Value, RpcError>, log: &slog::Logger) -> Verdict {
    match answer {
        Ok(v) => {
            if let Some(why) = v.get("rejected").and_then(Value::as_str) {
                return Verdict::Reject(why.to_owned());
            }
            match v.get("post").filter(|p| p.is_object()).map(|p| serde_json::from_value::<DraftPost>(p.clone())) {
                Some(Ok(p)) => Verdict::Replace(p),
                Some(Err(e)) => {
                    slog::warn!(log, "plugin returned a post that is not valid; kept the post as it was"; "error" => %e);
                    Verdict::Keep
                }
                None => Verdict::Keep,
            }
        }
        Err(e) => {
            slog::warn!(log, "plugin hook failed; the post goes on unchanged"; "error" => %e);
            Verdict::Keep
        }
    }
}

impl Handler<MessageWillBePosted> for PluginProcess {
    type Result = ResponseFuture<Verdict>;
    fn handle(&mut self, msg: MessageWillBePosted, ctx: &mut Self::Context) -> Self::Result {
        let call = self.call("message_will_be_posted", json!({"post": msg.post}), HOOK_DEADLINE, ctx);
        let log = self.log.clone();
        Box::pin(async move { verdict(call.await, &log) })
    }
}

impl Handler<MessageWillBeUpdated> for PluginProcess {
    type Result = ResponseFuture<Verdict>;
    fn handle(&mut self, msg: MessageWillBeUpdated, ctx: &mut Self::Context) -> Self::Result {
        let params = json!({"new_post": msg.new, "old_post": msg.old});
        let call = self.call("message_will_be_updated", params, HOOK_DEADLINE, ctx);
        let log = self.log.clone();
        Box::pin(async move { verdict(call.await, &log) })
    }
}

impl Handler<ExecuteCommand> for PluginProcess {
    type Result = ResponseFuture<Result<CommandResponse, String>>;
    fn handle(&mut self, msg: ExecuteCommand, ctx: &mut Self::Context) -> Self::Result {
        let call = self.call("execute_command", json!({"args": msg.args}), crate::commands::COMMAND_DEADLINE, ctx);
        Box::pin(async move {
            let v = call.await.map_err(|e| e.message)?;
            serde_json::from_value(v).map_err(|e| format!("the plugin's answer is not a command response: {e}"))
        })
    }
}

/// `MessageHasBeenPosted` (and other after-events): the bus tells the plugin, best effort.
impl Handler<Published> for PluginProcess {
    type Result = ();
    fn handle(&mut self, msg: Published, ctx: &mut Self::Context) {
        if let Some(post) = crate::extensions::posted_post(&msg) {
            <Self as Handler<Notify>>::handle(
                self,
                Notify { method: "message_has_been_posted".into(), params: json!({ "post": post }) },
                ctx,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl HostApi for Echo {
        fn call(
            &self,
            plugin: String,
            method: String,
            params: Value,
        ) -> LocalBoxFuture<'static, Result<Value, RpcError>> {
            Box::pin(async move {
                match method.as_str() {
                    "echo" => Ok(json!({"plugin": plugin, "params": params})),
                    _ => Err(RpcError::no_method(&method)),
                }
            })
        }
    }

    struct Exits(tokio::sync::mpsc::UnboundedSender<ProcessExited>);
    impl Actor for Exits {
        type Context = Context<Self>;
    }
    impl Handler<ProcessExited> for Exits {
        type Result = ();
        fn handle(&mut self, msg: ProcessExited, _: &mut Context<Self>) {
            let _ = self.0.send(msg);
        }
    }

    /// A plugin in a few lines of Python: answers `ping`, calls the node's `echo` while answering
    /// `relay`, hangs on `hang`, exits on `die`.
    const SCRIPT: &str = r#"
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
for line in sys.stdin:
    m = json.loads(line)
    meth = m.get("method")
    if meth == "ping":
        send({"jsonrpc": "2.0", "id": m["id"], "result": {"pong": m["params"]}})
    elif meth == "relay":
        send({"jsonrpc": "2.0", "id": 9000, "method": "echo", "params": {"x": 1}})
        answer = json.loads(sys.stdin.readline())
        send({"jsonrpc": "2.0", "id": m["id"], "result": answer["result"]})
    elif meth == "message_will_be_posted":
        p = m["params"]["post"]
        if "nope" in p["message"]:
            send({"jsonrpc": "2.0", "id": m["id"], "result": {"rejected": "no nope"}})
        else:
            p["message"] = p["message"].upper()
            send({"jsonrpc": "2.0", "id": m["id"], "result": {"post": p}})
    elif meth == "hang":
        pass
    elif meth == "die":
        sys.exit(3)
    elif meth == "deactivate":
        send({"jsonrpc": "2.0", "id": m["id"], "result": None}); sys.exit(0)
"#;

    fn launch(tag: &str) -> (Addr<PluginProcess>, tokio::sync::mpsc::UnboundedReceiver<ProcessExited>) {
        let root = std::env::temp_dir().join(format!("starling-proc-{tag}-{}", starling_protocol::new_id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("plugin.py"), SCRIPT).unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let addr = PluginProcess::launch(Launch {
            plugin_id: "test.plugin".into(),
            generation: 1,
            root,
            executable: crate::plugins::bundle::Executable { path: "plugin.py".into(), python: true },
            api: Arc::new(Echo),
            exited: Exits(tx).start().recipient(),
            log: slog::Logger::root(slog::Discard, slog::o!()),
        })
        .unwrap();
        (addr, rx)
    }

    fn call(method: &str, params: Value) -> Call {
        Call { method: method.into(), params, timeout: Duration::from_secs(5) }
    }

    #[actix::test]
    async fn calls_both_ways_hooks_timeouts_and_exits() {
        let (p, mut exits) = launch("calls");
        assert_eq!(p.send(call("ping", json!(7))).await.unwrap().unwrap(), json!({"pong": 7}));
        // The plugin calls the node while it answers.
        let relayed = p.send(call("relay", json!({}))).await.unwrap().unwrap();
        assert_eq!(relayed, json!({"plugin": "test.plugin", "params": {"x": 1}}));
        // Hooks: replace, reject.
        let post = DraftPost {
            id: String::new(),
            user_id: "u".into(),
            channel_id: "c".into(),
            root_id: String::new(),
            message: "hello".into(),
            props: json!({}),
            file_ids: vec![],
            post_type: String::new(),
        };
        match p.send(MessageWillBePosted { post: post.clone() }).await.unwrap() {
            Verdict::Replace(r) => assert_eq!(r.message, "HELLO"),
            v => panic!("{v:?}"),
        }
        let nope = DraftPost { message: "nope".into(), ..post };
        assert_eq!(p.send(MessageWillBePosted { post: nope }).await.unwrap(), Verdict::Reject("no nope".into()));
        // A call the plugin never answers times out, and the plugin still answers the next.
        let hung = p.send(Call { method: "hang".into(), params: json!({}), timeout: Duration::from_millis(200) });
        assert!(hung.await.unwrap().unwrap_err().message.contains("in time"));
        assert_eq!(p.send(call("ping", json!(8))).await.unwrap().unwrap(), json!({"pong": 8}));
        // An exit is reported, with how.
        let _ = p.send(Call { method: "die".into(), params: json!({}), timeout: Duration::from_millis(500) }).await;
        let exit = tokio::time::timeout(Duration::from_secs(5), exits.recv()).await.unwrap().unwrap();
        assert_eq!((exit.plugin_id.as_str(), exit.generation), ("test.plugin", 1));
        assert_eq!(exit.how, "the plugin exited with status 3");
    }

    #[actix::test]
    async fn shutdown_deactivates_and_the_exit_says_stopped_or_clean() {
        let (p, mut exits) = launch("stop");
        assert!(p.send(call("ping", json!(1))).await.unwrap().is_ok());
        p.send(Shutdown).await.unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(5), exits.recv()).await.unwrap().unwrap();
        assert!(exit.how == "stopped" || exit.how == "the plugin exited with status 0", "{}", exit.how);
        assert!(p.send(call("ping", json!(1))).await.is_err(), "the actor is gone");
    }
}
