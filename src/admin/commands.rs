//! What each `starling admin` command does: the API calls (those mmctl makes, see
//! `plugins-mmctl-upgrade.md` §4) and what is printed.

use super::client::{Body, CliError, CliResult, Client};
use super::credentials::{self, Credential, Credentials};
use super::output::{cell, json, table, time};
use super::*;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

pub async fn run(args: &AdminArgs) -> CliResult<ExitCode> {
    let creds_path = args.config_path.clone().unwrap_or_else(credentials::default_path);
    match &args.command {
        AdminCommand::Auth(cmd) => return auth(args, cmd, &creds_path).await,
        AdminCommand::Config(ConfigCmd::Migrate { from, to }) => return migrate(from, to).await,
        _ => {}
    }
    let client = connect(args, &creds_path)?;
    let c = &client;
    let out = Out { json: args.json };
    match &args.command {
        AdminCommand::Auth(_) => unreachable!("handled above"),
        AdminCommand::Config(cmd) => config(c, &out, cmd).await,
        AdminCommand::System(cmd) => system(c, &out, cmd).await,
        AdminCommand::Cluster(ClusterCmd::Status) => cluster_status(c, &out).await,
        AdminCommand::User(cmd) => user(c, &out, cmd).await,
        AdminCommand::Team(cmd) => team(c, &out, cmd).await,
        AdminCommand::Channel(cmd) => channel(c, &out, cmd).await,
        AdminCommand::Post(cmd) => post(c, &out, cmd).await,
        AdminCommand::Job(cmd) => job(c, &out, cmd).await,
        AdminCommand::Db(DbCmd::Recycle) => {
            c.post("/database/recycle", Value::Null).await?;
            out.done("Database connections recycled on every node.", json!({"status": "OK"}));
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Node(NodeCmd::Drain { wait }) => node_drain(c, &out, *wait).await,
        AdminCommand::Plugin(cmd) => plugin(c, &out, cmd).await,
    }
}

async fn node_drain(c: &Client, out: &Out, wait: bool) -> CliResult<ExitCode> {
    let b = c.post("/system/drain", Value::Null).await?;
    let (node, host) = (cell(&b, "node_id"), cell(&b, "hostname"));
    if !out.json {
        println!("Node {host} ({node}) is draining: its clients move to the other nodes, then it leaves and exits.");
    }
    let mut left = false;
    let mut behind_lb = false;
    if wait {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            match c.send_raw("GET", "/system/ping", Body::Empty).await {
                Err(CliError::Transport(_)) => {
                    left = true;
                    break;
                }
                Ok(a) if a.body["node_id"].as_str().is_some_and(|id| id != node) => {
                    behind_lb = true; // another node answered: this address is a load balancer
                    break;
                }
                _ => {}
            }
        }
        if !out.json {
            if left {
                println!("Node {host} has left.");
            } else if behind_lb {
                println!(
                    "Another node answers at this address (a load balancer?): watch `starling admin cluster status`."
                );
            } else {
                println!("Node {host} is still answering after 60 s.");
            }
        }
    }
    out.json_only(json!({"status": "OK", "node_id": node, "hostname": host, "left": left}));
    Ok(if wait && !left && !behind_lb { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

struct Out {
    json: bool,
}

impl Out {
    /// JSON for scripts; nothing for people (the command printed its own lines).
    fn json_only(&self, v: Value) {
        if self.json {
            json(&v);
        }
    }

    /// A one-line result for people, or its JSON.
    fn done(&self, text: &str, v: Value) {
        if self.json {
            json(&v);
        } else {
            println!("{text}");
        }
    }
}

fn connect(args: &AdminArgs, creds_path: &std::path::Path) -> CliResult<Client> {
    if args.local {
        return Ok(Client::local(args.local_socket_path.clone()));
    }
    let creds = Credentials::load(creds_path)?;
    let (_, cred) = creds.current().ok_or_else(|| {
        CliError::usage(
            "not logged in: run `starling admin auth login URL --username ... ` (or use --local on the node)",
        )
    })?;
    Client::http(&cred.url, &cred.token)
}

// ------------------------------------------------------------------ auth

fn read_secret_file(path: &std::path::Path) -> CliResult<String> {
    let s =
        std::fs::read_to_string(path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    Ok(s.trim_end_matches(['\r', '\n']).to_owned())
}

async fn auth(args: &AdminArgs, cmd: &AuthCmd, path: &std::path::Path) -> CliResult<ExitCode> {
    let mut creds = Credentials::load(path)?;
    let out = Out { json: args.json };
    match cmd {
        AuthCmd::Login { url, name, username, password, password_file, access_token, access_token_file } => {
            let url = url.trim_end_matches('/').to_owned();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(CliError::usage(format!("{url}: give the server's address with http:// or https://")));
            }
            let name = name.clone().unwrap_or_else(|| {
                url.split("://").nth(1).unwrap_or(&url).split(['/', ':']).next().unwrap_or("server").to_owned()
            });
            let token = match (access_token, access_token_file) {
                (Some(t), _) => Some(t.clone()),
                (None, Some(f)) => Some(read_secret_file(f)?),
                _ => None,
            };
            let (token, username, method) = if let Some(token) = token {
                let me = Client::http(&url, &token)?.get("/users/me").await?;
                (token, cell(&me, "username"), "access_token")
            } else {
                let username = username.clone().ok_or_else(|| {
                    CliError::usage("give --username with --password or --password-file, or --access-token")
                })?;
                let password = match (password, password_file) {
                    (Some(p), _) => p.clone(),
                    (None, Some(f)) => read_secret_file(f)?,
                    _ => return Err(CliError::usage("give --password or --password-file")),
                };
                (login(&url, &username, &password).await?, username, "session")
            };
            creds.credentials.insert(
                name.clone(),
                Credential { url: url.clone(), username: username.clone(), token, auth_method: method.into() },
            );
            creds.current = name.clone();
            creds.save(path)?;
            out.done(
                &format!("Logged in to {url} as {username}; \"{name}\" is the current login."),
                json!({"name": name, "url": url, "username": username}),
            );
        }
        AuthCmd::List => {
            let rows: Vec<Vec<String>> = creds
                .credentials
                .iter()
                .map(|(n, c)| {
                    let mark = if *n == creds.current { "*" } else { "" };
                    vec![mark.into(), n.clone(), c.username.clone(), c.url.clone()]
                })
                .collect();
            if out.json {
                let list: Vec<Value> = creds
                    .credentials
                    .iter()
                    .map(|(n, c)| json!({"name": n, "username": c.username, "url": c.url, "current": *n == creds.current}))
                    .collect();
                json(&Value::Array(list));
            } else if rows.is_empty() {
                println!("No saved logins; run `starling admin auth login`.");
            } else {
                table(&["", "NAME", "USERNAME", "URL"], &rows);
            }
        }
        AuthCmd::Switch { name } => {
            if !creds.credentials.contains_key(name) {
                return Err(CliError::usage(format!("no saved login called \"{name}\" (see `auth list`)")));
            }
            creds.current = name.clone();
            creds.save(path)?;
            out.done(&format!("\"{name}\" is the current login."), json!({"current": name}));
        }
        AuthCmd::Current => {
            let (n, c) = creds.current().ok_or_else(|| CliError::usage("not logged in"))?;
            out.done(
                &format!("\"{n}\": {} at {}", c.username, c.url),
                json!({"name": n, "username": c.username, "url": c.url}),
            );
        }
        AuthCmd::Delete { name } => {
            if creds.credentials.remove(name).is_none() {
                return Err(CliError::usage(format!("no saved login called \"{name}\"")));
            }
            if creds.current == *name {
                creds.current = String::new();
            }
            creds.save(path)?;
            out.done(&format!("\"{name}\" deleted."), json!({"deleted": name}));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `POST /users/login`; the session token from the `Token` header.
async fn login(url: &str, username: &str, password: &str) -> CliResult<String> {
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{url}/api/v4/users/login"))
        .json(&json!({"login_id": username, "password": password}))
        .send()
        .await
        .map_err(|e| CliError::Transport(format!("cannot reach {url}: {e}")))?;
    let status = res.status().as_u16();
    let token = res.headers().get("Token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        return Err(client::api_error(status, &body));
    }
    token.ok_or_else(|| CliError::Transport(format!("{url} answered the login without a token")))
}

// ------------------------------------------------------------------ config

/// The value at a dotted path of the config.
fn at_path<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(v, |v, k| v.get(k))
}

/// `value` typed like the setting it replaces.
fn typed(current: Option<&Value>, values: &[String], key: &str) -> CliResult<Value> {
    let one = values.join(" ");
    let bad = |what: &str| CliError::usage(format!("{key} takes {what}, not \"{one}\""));
    Ok(match current {
        Some(Value::Bool(_)) => match one.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        Some(Value::Number(n)) if n.is_f64() => one.parse::<f64>().map(Value::from).map_err(|_| bad("a number"))?,
        Some(Value::Number(_)) => one.parse::<i64>().map(Value::from).map_err(|_| bad("a whole number"))?,
        Some(Value::Array(_)) => Value::Array(values.iter().cloned().map(Value::String).collect()),
        Some(Value::Object(_)) => return Err(CliError::usage(format!("{key} is a section; set one of its keys"))),
        Some(Value::String(_)) | Some(Value::Null) => Value::String(one),
        None => return Err(CliError::usage(format!("{key}: no such setting"))),
    })
}

async fn config(c: &Client, out: &Out, cmd: &ConfigCmd) -> CliResult<ExitCode> {
    match cmd {
        ConfigCmd::Get { key } => {
            let config = c.get("/config").await?;
            let v = at_path(&config, key).ok_or_else(|| CliError::usage(format!("{key}: no such setting")))?;
            match v {
                Value::String(s) if !out.json => println!("{s}"),
                other => json(other),
            }
        }
        ConfigCmd::Set { key, values } => {
            let config = c.get("/config").await?;
            let value = typed(at_path(&config, key), values, key)?;
            // Only the one setting goes back: a patch changes nothing else.
            let patch = key.rsplit('.').fold(value.clone(), |inner, k| {
                let mut m = Map::new();
                m.insert(k.to_owned(), inner);
                Value::Object(m)
            });
            let saved = c.put("/config/patch", patch).await?;
            let now = at_path(&saved, key).cloned().unwrap_or(Value::Null);
            out.done(&format!("{key} = {now}"), json!({"key": key, "value": now}));
        }
        ConfigCmd::Patch { file } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?;
            let patch: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::usage(format!("{} is not JSON: {e}", file.display())))?;
            if !patch.is_object() {
                return Err(CliError::usage(format!("{}: a patch is a JSON object of sections", file.display())));
            }
            let saved = c.put("/config/patch", patch).await?;
            if out.json {
                json(&saved);
            } else {
                println!("Config patched from {}.", file.display());
            }
        }
        ConfigCmd::Show => json(&c.get("/config").await?),
        ConfigCmd::Reload => {
            c.post("/config/reload", Value::Null).await?;
            out.done("Config reloaded.", json!({"status": "OK"}));
        }
        ConfigCmd::Migrate { .. } => unreachable!("handled in run"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn migrate(from: &str, to: &str) -> CliResult<ExitCode> {
    use crate::config::source::ConfigSource;
    let (from, to) = (ConfigSource::parse(from), ConfigSource::parse(to));
    let stored = from.read().await.map_err(|e| CliError::usage(e.to_string()))?;
    let (_, _, stored) =
        crate::config::from_stored(stored, std::iter::empty()).map_err(|e| CliError::usage(e.to_string()))?;
    to.write(&stored).await.map_err(|e| CliError::Transport(e.to_string()))?;
    println!("Config copied from {} to {}.", from.describe(), to.describe());
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ system, cluster

async fn system(c: &Client, out: &Out, cmd: &SystemCmd) -> CliResult<ExitCode> {
    match cmd {
        SystemCmd::Status => {
            // Mattermost's mmctl asks with REST semantics and reads the body whatever the status.
            let a = c.send_raw("GET", "/system/ping?get_server_status=true", Body::Empty).await?;
            let b = &a.body;
            let healthy = ["status", "database_status", "filestore_status"].iter().all(|k| cell(b, k) == "OK");
            if out.json {
                json(b);
            } else {
                table(
                    &["NODE", "HOSTNAME", "STATUS", "DATABASE", "FILE STORE"],
                    &[vec![
                        cell(b, "node_id"),
                        cell(b, "hostname"),
                        cell(b, "status"),
                        cell(b, "database_status"),
                        cell(b, "filestore_status"),
                    ]],
                );
                if !cell(b, "filestore_error").is_empty() {
                    println!("file store: {}", cell(b, "filestore_error"));
                }
            }
            if a.status >= 400 && b.get("status").is_none() {
                return Err(client::api_error(a.status, b));
            }
            Ok(if healthy { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        SystemCmd::Version => {
            let a = c.send("GET", "/system/ping", Body::Empty).await?;
            let version = cell(&a.body, "version");
            out.done(&format!("Server version {version}"), json!({"version": version, "build": a.version}));
            Ok(ExitCode::SUCCESS)
        }
        SystemCmd::Ping => {
            let b = c.get("/system/ping").await?;
            out.done(
                &format!("{} answered from {} (node {})", c.describe(), cell(&b, "hostname"), cell(&b, "node_id")),
                b,
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn cluster_status(c: &Client, out: &Out) -> CliResult<ExitCode> {
    let rows = c.get("/cluster/status").await?;
    let list = rows.as_array().cloned().unwrap_or_default();
    if out.json {
        json(&rows);
    } else if list.is_empty() {
        println!("Clustering is off on {} (ClusterSettings.Enable).", c.describe());
    } else {
        let table_rows: Vec<Vec<String>> = list
            .iter()
            .map(|n| {
                vec![
                    cell(n, "hostname"),
                    cell(n, "id"),
                    cell(n, "version"),
                    cell(n, "schema_version"),
                    cell(n, "config_hash"),
                    if n.get("is_leader").and_then(Value::as_bool) == Some(true) {
                        "yes".into()
                    } else {
                        String::new()
                    },
                    cell(n, "status"),
                    cell(n, "reason"),
                ]
            })
            .collect();
        table(&["NODE", "ID", "VERSION", "SCHEMA", "CONFIG HASH", "LEADER", "STATE", "REASON"], &table_rows);
    }
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ lookups

/// A user by username, email or id (as mmctl takes them).
async fn find_user(c: &Client, who: &str) -> CliResult<Value> {
    let who = who.trim_start_matches('@');
    let tries = if who.contains('@') {
        vec![format!("/users/email/{}", enc(who))]
    } else {
        vec![format!("/users/username/{}", enc(who)), format!("/users/{}", enc(who))]
    };
    lookup(c, &tries, &format!("no user \"{who}\"")).await
}

async fn find_team(c: &Client, team: &str) -> CliResult<Value> {
    lookup(c, &[format!("/teams/name/{}", enc(team)), format!("/teams/{}", enc(team))], &format!("no team \"{team}\""))
        .await
}

/// A channel as `team:channel` or by id.
async fn find_channel(c: &Client, channel: &str) -> CliResult<Value> {
    match channel.split_once(':') {
        Some((team, name)) => {
            let t = find_team(c, team).await?;
            let path = format!("/teams/{}/channels/name/{}", cell(&t, "id"), enc(name));
            lookup(c, &[path], &format!("no channel \"{name}\" in team \"{team}\"")).await
        }
        None => {
            lookup(c, &[format!("/channels/{}", enc(channel))], &format!("no channel \"{channel}\" (use team:channel)"))
                .await
        }
    }
}

/// The first of `paths` that is found; a 404 (or 400 for a malformed id) tries the next.
async fn lookup(c: &Client, paths: &[String], missing: &str) -> CliResult<Value> {
    for p in paths {
        match c.get(p).await {
            Ok(v) => return Ok(v),
            Err(e) if matches!(e.status(), Some(404) | Some(400)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(CliError::usage(missing.to_owned()))
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A list endpoint's items from page `first`: that page only, or (`all`) every page until a
/// short one.
async fn pages(c: &Client, path: &str, first: u32, per_page: u32, all: bool) -> CliResult<Vec<Value>> {
    let mut items = Vec::new();
    for page in first.. {
        let batch = c.get(&format!("{path}?page={page}&per_page={per_page}")).await?;
        let batch = batch.as_array().cloned().unwrap_or_default();
        let short = batch.len() < per_page as usize;
        items.extend(batch);
        if !all || short {
            break;
        }
    }
    Ok(items)
}

// ------------------------------------------------------------------ users

fn user_rows(users: &[Value]) -> Vec<Vec<String>> {
    users
        .iter()
        .map(|u| {
            let state =
                if u.get("delete_at").and_then(Value::as_i64).unwrap_or(0) > 0 { "deactivated" } else { "active" };
            vec![cell(u, "id"), cell(u, "username"), cell(u, "email"), cell(u, "roles"), state.into()]
        })
        .collect()
}

fn print_users(out: &Out, users: &[Value]) {
    if out.json {
        json(&Value::Array(users.to_vec()));
    } else {
        table(&["ID", "USERNAME", "EMAIL", "ROLES", "STATE"], &user_rows(users));
    }
}

async fn user(c: &Client, out: &Out, cmd: &UserCmd) -> CliResult<ExitCode> {
    match cmd {
        UserCmd::Create { email, username, password, first_name, last_name, nickname, system_admin } => {
            let mut u = c
                .post(
                    "/users",
                    json!({"email": email, "username": username, "password": password,
                           "first_name": first_name.clone().unwrap_or_default(),
                           "last_name": last_name.clone().unwrap_or_default(),
                           "nickname": nickname.clone().unwrap_or_default()}),
                )
                .await?;
            if *system_admin {
                c.put(&format!("/users/{}/roles", cell(&u, "id")), json!({"roles": "system_user system_admin"}))
                    .await?;
                u["roles"] = json!("system_user system_admin");
            }
            print_users(out, &[u]);
        }
        UserCmd::List { page, per_page, all } => {
            let per_page = (*per_page).clamp(1, 200);
            let users = pages(c, "/users", *page, per_page, *all).await?;
            print_users(out, &users);
        }
        UserCmd::Search { users } => {
            let mut found = Vec::new();
            for who in users {
                match find_user(c, who).await {
                    Ok(u) => found.push(u),
                    Err(CliError::Usage(m)) => eprintln!("{m}"),
                    Err(e) => return Err(e),
                }
            }
            print_users(out, &found);
            if found.len() < users.len() {
                return Ok(ExitCode::FAILURE);
            }
        }
        UserCmd::Activate { users } | UserCmd::Deactivate { users } => {
            let active = matches!(cmd, UserCmd::Activate { .. });
            let mut changed = Vec::new();
            for who in users {
                let u = find_user(c, who).await?;
                c.put(&format!("/users/{}/active", cell(&u, "id")), json!({"active": active})).await?;
                changed.push(cell(&u, "username"));
            }
            let verb = if active { "activated" } else { "deactivated" };
            out.done(&format!("{} {verb}.", changed.join(", ")), json!({verb: changed}));
        }
        UserCmd::Role { user, role } => {
            let roles = match role.as_str() {
                "system_admin" | "system-admin" | "admin" => "system_user system_admin",
                "member" | "system_user" | "user" => "system_user",
                other => return Err(CliError::usage(format!("{other}: the role is system_admin or member"))),
            };
            let u = find_user(c, user).await?;
            c.put(&format!("/users/{}/roles", cell(&u, "id")), json!({"roles": roles})).await?;
            out.done(
                &format!("{} is now {roles}.", cell(&u, "username")),
                json!({"username": cell(&u, "username"), "roles": roles}),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ teams and channels

async fn team(c: &Client, out: &Out, cmd: &TeamCmd) -> CliResult<ExitCode> {
    match cmd {
        TeamCmd::Create { name, display_name, private } => {
            let t = c
                .post(
                    "/teams",
                    json!({"name": name, "display_name": display_name, "type": if *private { "I" } else { "O" }}),
                )
                .await?;
            print_teams(out, &[t]);
        }
        TeamCmd::List => {
            let teams = pages(c, "/teams", 0, 200, true).await?;
            print_teams(out, &teams);
        }
        TeamCmd::Archive { teams } => {
            let mut done = Vec::new();
            for t in teams {
                let team = find_team(c, t).await?;
                c.delete(&format!("/teams/{}", cell(&team, "id"))).await?;
                done.push(cell(&team, "name"));
            }
            out.done(&format!("{} archived.", done.join(", ")), json!({"archived": done}));
        }
        TeamCmd::Users(m) => {
            let (target, users, add) = members_args(m);
            let t = find_team(c, target).await?;
            let tid = cell(&t, "id");
            let mut done = Vec::new();
            for who in users {
                let u = find_user(c, who).await?;
                let uid = cell(&u, "id");
                if add {
                    c.post(&format!("/teams/{tid}/members"), json!({"team_id": tid, "user_id": uid})).await?;
                } else {
                    c.delete(&format!("/teams/{tid}/members/{uid}")).await?;
                }
                done.push(cell(&u, "username"));
            }
            let verb = if add { "added to" } else { "removed from" };
            out.done(
                &format!("{} {verb} {}.", done.join(", "), cell(&t, "name")),
                json!({"team": cell(&t, "name"), if add { "added" } else { "removed" }: done}),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn members_args(m: &MembersCmd) -> (&str, &[String], bool) {
    match m {
        MembersCmd::Add { target, users } => (target, users, true),
        MembersCmd::Remove { target, users } => (target, users, false),
    }
}

fn print_teams(out: &Out, teams: &[Value]) {
    if out.json {
        json(&Value::Array(teams.to_vec()));
        return;
    }
    let rows: Vec<Vec<String>> = teams
        .iter()
        .map(|t| {
            let state = if t.get("delete_at").and_then(Value::as_i64).unwrap_or(0) > 0 { "archived" } else { "" };
            let kind = if cell(t, "type") == "I" { "invite only" } else { "open" };
            vec![cell(t, "id"), cell(t, "name"), cell(t, "display_name"), kind.into(), state.into()]
        })
        .collect();
    table(&["ID", "NAME", "DISPLAY NAME", "TYPE", "STATE"], &rows);
}

fn print_channels(out: &Out, channels: &[Value]) {
    if out.json {
        json(&Value::Array(channels.to_vec()));
        return;
    }
    let rows: Vec<Vec<String>> = channels
        .iter()
        .map(|ch| {
            let state = if ch.get("delete_at").and_then(Value::as_i64).unwrap_or(0) > 0 { "archived" } else { "" };
            let kind = if cell(ch, "type") == "P" { "private" } else { "public" };
            vec![cell(ch, "id"), cell(ch, "name"), cell(ch, "display_name"), kind.into(), state.into()]
        })
        .collect();
    table(&["ID", "NAME", "DISPLAY NAME", "TYPE", "STATE"], &rows);
}

async fn channel(c: &Client, out: &Out, cmd: &ChannelCmd) -> CliResult<ExitCode> {
    match cmd {
        ChannelCmd::Create { team, name, display_name, private, purpose, header } => {
            let t = find_team(c, team).await?;
            let ch = c
                .post(
                    "/channels",
                    json!({"team_id": cell(&t, "id"), "name": name, "display_name": display_name,
                           "type": if *private { "P" } else { "O" },
                           "purpose": purpose.clone().unwrap_or_default(),
                           "header": header.clone().unwrap_or_default()}),
                )
                .await?;
            print_channels(out, &[ch]);
        }
        ChannelCmd::List { team } => {
            let t = find_team(c, team).await?;
            let channels = pages(c, &format!("/teams/{}/channels", cell(&t, "id")), 0, 200, true).await?;
            print_channels(out, &channels);
        }
        ChannelCmd::Archive { channels } => {
            let mut done = Vec::new();
            for ch in channels {
                let channel = find_channel(c, ch).await?;
                c.delete(&format!("/channels/{}", cell(&channel, "id"))).await?;
                done.push(cell(&channel, "name"));
            }
            out.done(&format!("{} archived.", done.join(", ")), json!({"archived": done}));
        }
        ChannelCmd::Users(m) => {
            let (target, users, add) = members_args(m);
            let ch = find_channel(c, target).await?;
            let cid = cell(&ch, "id");
            let mut done = Vec::new();
            for who in users {
                let u = find_user(c, who).await?;
                let uid = cell(&u, "id");
                if add {
                    c.post(&format!("/channels/{cid}/members"), json!({"user_id": uid})).await?;
                } else {
                    c.delete(&format!("/channels/{cid}/members/{uid}")).await?;
                }
                done.push(cell(&u, "username"));
            }
            let verb = if add { "added to" } else { "removed from" };
            out.done(
                &format!("{} {verb} {}.", done.join(", "), cell(&ch, "name")),
                json!({"channel": cell(&ch, "name"), if add { "added" } else { "removed" }: done}),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ posts, jobs, plugins

async fn post(c: &Client, out: &Out, cmd: &PostCmd) -> CliResult<ExitCode> {
    match cmd {
        PostCmd::Create { channel, message, reply_to } => {
            let ch = find_channel(c, channel).await?;
            let p = c
                .post(
                    "/posts",
                    json!({"channel_id": cell(&ch, "id"), "message": message, "root_id": reply_to.clone().unwrap_or_default()}),
                )
                .await?;
            out.done(&format!("Posted {}.", cell(&p, "id")), p);
        }
        PostCmd::List { channel, number } => {
            let ch = find_channel(c, channel).await?;
            let list = c
                .get(&format!("/channels/{}/posts?page=0&per_page={}", cell(&ch, "id"), (*number).clamp(1, 200)))
                .await?;
            let order: Vec<String> = list
                .get("order")
                .and_then(Value::as_array)
                .map(|o| o.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            let posts: Vec<Value> =
                order.iter().rev().filter_map(|id| list.get("posts").and_then(|p| p.get(id)).cloned()).collect();
            if out.json {
                json(&Value::Array(posts));
            } else {
                let mut names: std::collections::HashMap<String, String> = Default::default();
                for p in &posts {
                    let uid = cell(p, "user_id");
                    if !names.contains_key(&uid) {
                        let name =
                            c.get(&format!("/users/{uid}")).await.map(|u| cell(&u, "username")).unwrap_or_default();
                        names.insert(uid.clone(), name);
                    }
                }
                let rows: Vec<Vec<String>> = posts
                    .iter()
                    .map(|p| {
                        vec![
                            time(p.get("create_at").and_then(Value::as_i64).unwrap_or(0)),
                            names.get(&cell(p, "user_id")).cloned().unwrap_or_default(),
                            cell(p, "id"),
                            cell(p, "message").replace('\n', " "),
                        ]
                    })
                    .collect();
                table(&["TIME", "USER", "ID", "MESSAGE"], &rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn job(c: &Client, out: &Out, cmd: &JobCmd) -> CliResult<ExitCode> {
    match cmd {
        JobCmd::List { job_type, status, page, per_page } => {
            let mut q = format!("/jobs?page={page}&per_page={}", (*per_page).clamp(1, 200));
            if let Some(t) = job_type {
                q.push_str(&format!("&job_type={}", enc(t)));
            }
            if let Some(s) = status {
                q.push_str(&format!("&status={}", enc(s)));
            }
            let jobs = c.get(&q).await?;
            if out.json {
                json(&jobs);
            } else {
                let rows: Vec<Vec<String>> = jobs
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .map(|j| {
                        vec![
                            cell(j, "id"),
                            cell(j, "type"),
                            cell(j, "status"),
                            time(j.get("create_at").and_then(Value::as_i64).unwrap_or(0)),
                            cell(j, "progress"),
                        ]
                    })
                    .collect();
                table(&["ID", "TYPE", "STATUS", "CREATED", "PROGRESS"], &rows);
            }
        }
        JobCmd::Create { job_type } => {
            let j = c.post("/jobs", json!({"type": job_type})).await?;
            out.done(&format!("Job {} ({}) queued.", cell(&j, "id"), cell(&j, "type")), j);
        }
        JobCmd::Cancel { ids } => {
            for id in ids {
                c.post(&format!("/jobs/{}/cancel", enc(id)), Value::Null).await?;
            }
            out.done(&format!("{} canceled.", ids.join(", ")), json!({"canceled": ids}));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn plugin(c: &Client, out: &Out, cmd: &PluginCmd) -> CliResult<ExitCode> {
    match cmd {
        PluginCmd::Add { files } => {
            let mut added = Vec::new();
            for f in files {
                let bytes =
                    std::fs::read(f).map_err(|e| CliError::usage(format!("cannot read {}: {e}", f.display())))?;
                let name =
                    f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin.tar.gz".into());
                let m = c.send("POST", "/plugins", Body::File { field: "plugin", name, bytes }).await?.body;
                added.push(m);
            }
            if out.json {
                json(&Value::Array(added));
            } else {
                for m in &added {
                    println!("Plugin {} {} added.", cell(m, "id"), cell(m, "version"));
                }
            }
        }
        PluginCmd::Enable { ids } | PluginCmd::Disable { ids } | PluginCmd::Delete { ids } => {
            let (verb, done) = match cmd {
                PluginCmd::Enable { .. } => ("enable", "enabled"),
                PluginCmd::Disable { .. } => ("disable", "disabled"),
                _ => ("", "deleted"),
            };
            for id in ids {
                if verb.is_empty() {
                    c.delete(&format!("/plugins/{}", enc(id))).await?;
                } else {
                    c.post(&format!("/plugins/{}/{verb}", enc(id)), Value::Null).await?;
                }
            }
            out.done(&format!("{} {done}.", ids.join(", ")), json!({done: ids}));
        }
        PluginCmd::List => {
            let list = c.get("/plugins").await?;
            if out.json {
                json(&list);
            } else {
                let mut rows = Vec::new();
                for (state, key) in [("enabled", "active"), ("disabled", "inactive")] {
                    for m in list.get(key).and_then(Value::as_array).map(|a| a.as_slice()).unwrap_or_default() {
                        rows.push(vec![cell(m, "id"), cell(m, "name"), cell(m, "version"), state.to_owned()]);
                    }
                }
                table(&["ID", "NAME", "VERSION", "STATE"], &rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_keeps_its_type() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(typed(Some(&json!(true)), &v(&["false"]), "k").unwrap(), json!(false));
        assert_eq!(typed(Some(&json!(5)), &v(&["42"]), "k").unwrap(), json!(42));
        assert_eq!(typed(Some(&json!("a")), &v(&["b", "c"]), "k").unwrap(), json!("b c"));
        assert_eq!(typed(Some(&json!(["x"])), &v(&["b", "c"]), "k").unwrap(), json!(["b", "c"]));
        assert!(typed(Some(&json!(true)), &v(&["yes"]), "k").is_err());
        assert!(typed(Some(&json!(1)), &v(&["one"]), "k").is_err());
        assert!(typed(None, &v(&["1"]), "k").is_err());
        assert!(typed(Some(&json!({})), &v(&["1"]), "k").is_err());
    }

    #[test]
    fn names_are_escaped_in_paths() {
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
        assert_eq!(enc("me@example.com"), "me@example.com");
    }
}
