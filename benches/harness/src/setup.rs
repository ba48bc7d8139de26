//! The fixture: an admin, a team, optionally a channel, and `--users` users, each logged in once.
//! Names are deterministic (`PREFIX-u00001`, team `PREFIX`), so a second run reuses them.

use crate::api::{Api, Session};
use crate::cli::CommonArgs;
use crate::report;
use anyhow::{anyhow, bail, Context, Result};
use futures_util::{stream, StreamExt};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Logins saved between runs, by username.
type Saved = BTreeMap<String, Session>;

fn load_sessions(path: Option<&Path>) -> Result<Saved> {
    match path {
        Some(p) if p.exists() => {
            let text = std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parse {}", p.display()))
        }
        _ => Ok(Saved::new()),
    }
}

fn save_sessions(path: Option<&Path>, saved: &Saved) -> Result<()> {
    if let Some(p) = path {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // Tokens are credentials: only the owner may read them.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(p)
            .with_context(|| format!("write {}", p.display()))?;
        file.write_all(serde_json::to_string_pretty(saved)?.as_bytes())?;
        report::note(format!("logins saved to {}", p.display()));
    }
    Ok(())
}

/// A saved login the node still accepts for that user; otherwise sign up (if needed) and log in.
/// Returns whether the user was created, and the session.
async fn login_or_reuse(
    api: &Api,
    saved: Option<&Session>,
    admin_token: Option<&str>,
    name: &str,
    password: &str,
) -> Result<(bool, Session)> {
    if let Some(s) = saved {
        if api.me(&s.token).await?.as_deref() == Some(s.user_id.as_str()) {
            return Ok((false, s.clone()));
        }
    }
    match api.create_user(admin_token, name, password).await {
        Ok(created) => Ok((created, api.login(name, password).await?)),
        // Sign-up refused (no open sign-up and no admin yet): the user may exist already.
        Err(e) => match api.login(name, password).await {
            Ok(s) => Ok((false, s)),
            Err(_) => Err(e).with_context(|| format!("create {name}")),
        },
    }
}

pub struct Fixture {
    /// Creates the team and channel, adds members, and makes the measured posts.
    pub admin: Session,
    pub team_id: String,
    pub channel_id: Option<String>,
    /// In name order: `users[i]` is `PREFIX-u{i+1:05}`.
    pub users: Vec<Session>,
    pub created_users: usize,
    /// Users whose saved login (--sessions) was reused: the node hashed no password for them.
    pub reused_logins: usize,
    pub elapsed: Duration,
}

pub fn username(prefix: &str, i: usize) -> String {
    format!("{prefix}-u{:05}", i + 1)
}

/// Build (or reuse) the fixture; with `channel`, every user is also a member of that channel.
pub async fn prepare(api: &Api, c: &CommonArgs, channel: Option<&str>) -> Result<Fixture> {
    if c.users == 0 {
        bail!("--users must be at least 1");
    }
    let ok_prefix = c.prefix.len() <= 15
        && c.prefix.starts_with(|ch: char| ch.is_ascii_lowercase())
        && c.prefix.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
    if !ok_prefix {
        bail!("--prefix: 1 to 15 of a-z, 0-9 and '-', starting with a letter");
    }
    tokio::time::timeout(Duration::from_secs(c.setup_timeout), prepare_within(api, c, channel))
        .await
        .map_err(|_| anyhow!("setup took longer than --setup-timeout {}s", c.setup_timeout))?
}

async fn prepare_within(api: &Api, c: &CommonArgs, channel: Option<&str>) -> Result<Fixture> {
    let started = Instant::now();
    let spin = report::spinner("setup: admin, team, channel");
    let mut saved = load_sessions(c.sessions.as_deref())?;
    let admin_name = format!("{}admin", c.prefix);
    let (_, admin) = login_or_reuse(api, saved.get(&admin_name), None, &admin_name, &c.password)
        .await
        .context("the harness admin (on a fresh database the first user becomes system admin; on a used one set TeamSettings.EnableOpenServer)")?;
    let team_id = api.ensure_team(&admin.token, &c.prefix).await?;
    let channel_id = match channel {
        Some(name) => Some(api.ensure_channel(&admin.token, &team_id, name).await?),
        None => None,
    };
    spin.finish_and_clear();

    let bar = report::bar(c.users as u64, "setup: users (sign up, log in, join)");
    let results: Vec<Result<Joined>> = stream::iter(0..c.users)
        .map(|i| {
            let (admin, team_id, channel_id, bar) = (&admin, &team_id, &channel_id, &bar);
            let reuse = saved.get(&username(&c.prefix, i));
            async move {
                let r = one_user(api, c, admin, reuse, team_id, channel_id.as_deref(), i).await;
                bar.inc(1);
                r
            }
        })
        .buffer_unordered(c.setup_concurrency.max(1))
        .collect()
        .await;
    bar.finish_and_clear();

    let mut users: Vec<Option<Session>> = vec![None; c.users];
    let (mut created_users, mut reused_logins) = (0, 0);
    for r in results {
        let j = r?;
        created_users += usize::from(j.created);
        reused_logins += usize::from(j.reused);
        users[j.index] = Some(j.session);
    }
    let users =
        users.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| anyhow!("a user is missing after setup"))?;
    saved.insert(admin_name, admin.clone());
    for (i, u) in users.iter().enumerate() {
        saved.insert(username(&c.prefix, i), u.clone());
    }
    save_sessions(c.sessions.as_deref(), &saved)?;
    Ok(Fixture { admin, team_id, channel_id, users, created_users, reused_logins, elapsed: started.elapsed() })
}

/// One user of the fixture, ready.
struct Joined {
    index: usize,
    created: bool,
    /// Its saved login was still good: no password was hashed.
    reused: bool,
    session: Session,
}

async fn one_user(
    api: &Api,
    c: &CommonArgs,
    admin: &Session,
    reuse: Option<&Session>,
    team_id: &str,
    channel_id: Option<&str>,
    i: usize,
) -> Result<Joined> {
    let name = username(&c.prefix, i);
    let (created, s) = login_or_reuse(api, reuse, Some(&admin.token), &name, &c.password).await?;
    api.add_team_member(&admin.token, team_id, &s.user_id)
        .await
        .with_context(|| format!("{name} joins the team (raise TeamSettings.MaxUsersPerTeam if it is full)"))?;
    if let Some(ch) = channel_id {
        api.add_channel_member(&admin.token, ch, &s.user_id)
            .await
            .with_context(|| format!("{name} joins the channel"))?;
    }
    Ok(Joined { index: i, created, reused: reuse.is_some_and(|r| r.token == s.token), session: s })
}

/// `starling-bench setup`: build the fixture, save the logins, and stop.
pub async fn run(a: crate::cli::SetupArgs) -> Result<()> {
    let c = &a.common;
    let api = Api::new(c.url(), c.setup_concurrency.max(1))?;
    let f = prepare(&api, c, a.channel.as_deref()).await?;
    println!(
        "setup: {} users ({} new, {} saved logins reused), team {}{} in {:.1}s",
        f.users.len(),
        f.created_users,
        f.reused_logins,
        f.team_id,
        f.channel_id.as_deref().map(|id| format!(", channel {id}")).unwrap_or_default(),
        f.elapsed.as_secs_f64()
    );
    if c.sessions.is_none() {
        report::note("no --sessions FILE: the logins were not saved for the next run");
    }
    Ok(())
}
