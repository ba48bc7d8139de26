//! Killing a node: which of the URLs it serves, SIGKILL, the time until every survivor's
//! `/api/v4/cluster/status` shows it red (polled every 10 ms), starting it again, and the time
//! until every node is green again. Shared by `run --chaos-kill-pid` and `killdetect`.

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::Value;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the survivors are asked.
pub const POLL: Duration = Duration::from_millis(10);

/// A plain client for the status polls: no retries, short timeouts.
pub fn status_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(Duration::from_secs(2)).connect_timeout(Duration::from_secs(1)).build()?)
}

/// A node as its own `/cluster/status` describes it (its row comes first).
#[derive(Debug, Clone, Serialize)]
pub struct NodeInfo {
    pub url: String,
    pub id: String,
    pub gossip: String,
}

/// The rows of a node's cluster status; `Err` on transport errors and non-2xx.
pub async fn cluster_status(http: &reqwest::Client, url: &str, token: &str) -> Result<Vec<Value>> {
    let resp =
        http.get(format!("{}/api/v4/cluster/status", url.trim_end_matches('/'))).bearer_auth(token).send().await?;
    let status = resp.status();
    if !status.is_success() {
        bail!("{url}: cluster status HTTP {status} (is the harness admin a system admin?)");
    }
    Ok(resp.json::<Value>().await?.as_array().cloned().unwrap_or_default())
}

/// Each URL's own node.
pub async fn nodes(http: &reqwest::Client, urls: &[String], token: &str) -> Result<Vec<NodeInfo>> {
    let mut out = Vec::new();
    for u in urls {
        let rows = cluster_status(http, u, token).await?;
        let me = rows.first().ok_or_else(|| anyhow!("{u}: empty cluster status (clustering off?)"))?;
        out.push(NodeInfo {
            url: u.clone(),
            id: me["id"].as_str().unwrap_or_default().to_owned(),
            gossip: me["ipaddress"].as_str().unwrap_or_default().to_owned(),
        });
    }
    Ok(out)
}

/// How to start a process again exactly as it was: read from /proc before killing it.
#[derive(Debug, Clone)]
pub struct Relaunch {
    argv: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: PathBuf,
    /// Where its stdout went (a log file), to append to it again.
    stdout: Option<PathBuf>,
}

fn nul_split(bytes: Vec<u8>) -> Vec<OsString> {
    bytes.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| OsString::from_vec(s.to_vec())).collect()
}

impl Relaunch {
    pub fn read(pid: u32) -> Result<Self> {
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let argv = nul_split(std::fs::read(proc.join("cmdline")).context("read cmdline")?);
        if argv.is_empty() {
            bail!("pid {pid} has no command line");
        }
        let env = nul_split(std::fs::read(proc.join("environ")).context("read environ")?)
            .into_iter()
            .filter_map(|kv| {
                let bytes = kv.into_vec();
                let eq = bytes.iter().position(|b| *b == b'=')?;
                Some((OsString::from_vec(bytes[..eq].to_vec()), OsString::from_vec(bytes[eq + 1..].to_vec())))
            })
            .collect();
        let cwd = std::fs::read_link(proc.join("cwd")).context("read cwd")?;
        let stdout = std::fs::read_link(proc.join("fd/1")).ok().filter(|p| p.is_absolute() && p.is_file());
        Ok(Self { argv, env, cwd, stdout })
    }

    /// `MM_SERVICESETTINGS_LISTENADDRESS` of the process, if set.
    pub fn listen_address(&self) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| k.to_string_lossy().eq_ignore_ascii_case("MM_SERVICESETTINGS_LISTENADDRESS"))
            .map(|(_, v)| v.to_string_lossy().into_owned())
    }

    /// Start it again in a process group of its own (so it outlives the harness). Returns its pid.
    pub fn start(&self) -> Result<u32> {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..]).env_clear().envs(self.env.iter().map(|(k, v)| (k, v))).current_dir(&self.cwd);
        cmd.stdin(std::process::Stdio::null()).process_group(0);
        match &self.stdout {
            Some(p) => {
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(p)
                    .with_context(|| format!("open {}", p.display()))?;
                cmd.stderr(f.try_clone()?).stdout(f);
            }
            None => {
                cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
            }
        }
        let child = cmd.spawn().with_context(|| format!("start {:?}", self.argv[0]))?;
        Ok(child.id())
    }
}

/// Which of `urls` a process serves, from its listen address (`host:port` or `:port`).
pub fn url_of(listen: &str, urls: &[String]) -> Option<usize> {
    let (host, port) = listen.rsplit_once(':')?;
    urls.iter().position(|u| {
        reqwest::Url::parse(u).is_ok_and(|p| {
            p.port_or_known_default().map(|x| x.to_string()).as_deref() == Some(port)
                && (host.is_empty() || host == "0.0.0.0" || p.host_str() == Some(host))
        })
    })
}

pub fn sigkill(pid: u32) -> Result<()> {
    if pid <= 1 {
        bail!("refusing to kill pid {pid}");
    }
    // SAFETY: kill(2) with a checked positive pid and a constant signal.
    let r = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("kill -9 {pid}"));
    }
    Ok(())
}

/// Whether a process is still there (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').map(|(_, r)| !r.trim_start().starts_with('Z')).unwrap_or(false))
        .unwrap_or(false)
}

/// What one survivor said while the harness waited for it to report the victim red.
#[derive(Debug, Clone, Serialize)]
pub struct Watch {
    pub url: String,
    /// From SIGKILL to the first red reading (None: not within the timeout).
    #[serde(skip)]
    pub after: Option<Duration>,
    pub after_ms: Option<f64>,
    pub polls: u64,
    /// Polls that failed (no answer within 2 s, or not 2xx).
    pub failed_polls: u64,
    /// The victim's row in the last answer (`status: reason`), or the last error.
    pub last: String,
}

/// Until every survivor shows `victim` red (or `timeout`), polling each every [`POLL`].
pub async fn wait_red(
    http: &reqwest::Client,
    survivors: &[String],
    victim: &NodeInfo,
    token: &str,
    killed: Instant,
    timeout: Duration,
) -> Vec<Watch> {
    let one = |url: String| async move {
        let deadline = killed + timeout;
        let mut w =
            Watch { url: url.clone(), after: None, after_ms: None, polls: 0, failed_polls: 0, last: String::new() };
        while Instant::now() < deadline {
            w.polls += 1;
            match cluster_status(http, &url, token).await {
                Ok(rows) => {
                    let row =
                        rows.iter().find(|r| r["id"] == victim.id.as_str() || r["ipaddress"] == victim.gossip.as_str());
                    w.last = match row {
                        Some(r) => {
                            format!("{}: {}", r["status"].as_str().unwrap_or("?"), r["reason"].as_str().unwrap_or(""))
                        }
                        None => "not listed".into(),
                    };
                    if row.is_some_and(|r| r["status"] == "red") {
                        w.after = Some(killed.elapsed());
                        w.after_ms = w.after.map(|d| d.as_secs_f64() * 1000.0);
                        return w;
                    }
                }
                Err(e) => {
                    w.failed_polls += 1;
                    w.last = format!("{e:#}");
                }
            }
            tokio::time::sleep(POLL).await;
        }
        w
    };
    futures_util::future::join_all(survivors.iter().cloned().map(one)).await
}

/// Until every node of `urls` answers and shows `expect` rows, all green.
pub async fn wait_green(
    http: &reqwest::Client,
    urls: &[String],
    expect: usize,
    token: &str,
    timeout: Duration,
) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        let mut all = true;
        for u in urls {
            match cluster_status(http, u, token).await {
                Ok(rows) if rows.len() == expect && rows.iter().all(|r| r["status"] == "green") => {}
                _ => {
                    all = false;
                    break;
                }
            }
        }
        if all {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Restart per the options: a shell command, or the process as it was. Returns the new pid when
/// the harness started it itself.
pub fn restart(cmd: Option<&str>, same: Option<&Relaunch>) -> Result<Option<u32>> {
    if let Some(c) = cmd {
        let status = std::process::Command::new("sh").args(["-c", c]).status().context("run the restart command")?;
        if !status.success() {
            bail!("restart command failed: {status}");
        }
        return Ok(None);
    }
    match same {
        Some(r) => r.start().map(Some),
        None => Ok(None),
    }
}

pub fn write_pid_file(path: Option<&Path>, pid: u32) -> Result<()> {
    if let Some(p) = path {
        std::fs::write(p, format!("{pid}\n")).with_context(|| format!("write {}", p.display()))?;
    }
    Ok(())
}

pub fn read_pid_file(path: &Path) -> Result<u32> {
    let s = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    s.trim().parse().with_context(|| format!("{}: not a pid", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_url_of_a_listen_address() {
        let urls = vec!["http://127.0.0.1:8065".to_owned(), "http://127.0.0.1:8165".to_owned()];
        assert_eq!(url_of("127.0.0.1:8165", &urls), Some(1));
        assert_eq!(url_of(":8065", &urls), Some(0));
        assert_eq!(url_of("127.0.0.1:9999", &urls), None);
        assert_eq!(url_of("10.0.0.1:8065", &urls), None);
    }

    #[test]
    fn reads_own_command_line() {
        let r = Relaunch::read(std::process::id()).unwrap();
        assert!(!r.argv.is_empty());
        assert!(alive(std::process::id()));
        assert!(sigkill(1).is_err());
    }
}
