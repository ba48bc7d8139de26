//! A TCP proxy a test can freeze: while frozen it forwards nothing either way and new
//! connections hang, as across a network partition (the sockets stay open, nothing arrives).
//!
//! It can also cut only the connections one process dialled ([`Proxy::cut_dialer`]), so that
//! one node can be partitioned from the others while they still talk to each other through the
//! same proxy. Every connection reaching the proxy comes from 127.0.0.1; the dialer is found the
//! way `ss -p` finds it: the client socket's inode in /proc/net/tcp, among the process's fds.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone)]
pub struct Proxy {
    frozen: Arc<AtomicBool>,
    links: Arc<Mutex<Links>>,
}

#[derive(Default)]
struct Links {
    /// Processes whose connections are cut, now and when they dial again.
    cut_pids: Vec<u32>,
    conns: Vec<Link>,
}

struct Link {
    /// The dialer's end (its local address), and the proxy's listening address it reached.
    dialer: SocketAddr,
    listen: SocketAddr,
    cut: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

/// Whether bytes must be held back on a link: the whole proxy is frozen, or this link is cut.
#[derive(Clone)]
struct Gate {
    frozen: Arc<AtomicBool>,
    cut: Arc<AtomicBool>,
}

impl Gate {
    fn closed(&self) -> bool {
        self.frozen.load(Ordering::Relaxed) || self.cut.load(Ordering::Relaxed)
    }
    async fn wait_open(&self) {
        while self.closed() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Proxy {
    /// Forward `listen` to `target`.
    pub async fn start(listen: &str, target: &str) -> Proxy {
        let listener = TcpListener::bind(listen).await.expect("proxy listens");
        let listen_addr = listener.local_addr().expect("proxy address");
        let frozen = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Links>> = Arc::default();
        let (f, l, target) = (frozen.clone(), links.clone(), target.to_owned());
        tokio::spawn(async move {
            while let Ok((client, dialer)) = listener.accept().await {
                let cut = Arc::new(AtomicBool::new(false));
                let done = Arc::new(AtomicBool::new(false));
                {
                    let mut links = l.lock().expect("proxy links");
                    links.conns.retain(|c| !c.done.load(Ordering::Relaxed));
                    let from_cut = links.cut_pids.iter().any(|pid| dialled_by(*pid, dialer, listen_addr));
                    cut.store(from_cut, Ordering::Relaxed);
                    links.conns.push(Link { dialer, listen: listen_addr, cut: cut.clone(), done: done.clone() });
                }
                let gate = Gate { frozen: f.clone(), cut };
                let target = target.clone();
                tokio::spawn(async move {
                    // A dial during the partition gets no further than the accept.
                    gate.wait_open().await;
                    let Ok(server) = TcpStream::connect(&target).await else {
                        done.store(true, Ordering::Relaxed);
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let up = tokio::spawn(pump(cr, sw, gate.clone()));
                    let down = tokio::spawn(pump(sr, cw, gate));
                    let _ = futures_util::future::join(up, down).await;
                    done.store(true, Ordering::Relaxed);
                });
            }
        });
        Proxy { frozen, links }
    }

    pub fn freeze(&self, on: bool) {
        self.frozen.store(on, Ordering::Relaxed);
    }

    /// Hold back everything on the connections process `pid` dialled through this proxy, and on
    /// the ones it dials from now on, until [`Proxy::heal`].
    pub fn cut_dialer(&self, pid: u32) {
        let mut links = self.links.lock().expect("proxy links");
        links.cut_pids.push(pid);
        for c in &links.conns {
            if dialled_by(pid, c.dialer, c.listen) {
                c.cut.store(true, Ordering::Relaxed);
            }
        }
    }

    /// End every cut and the freeze: held bytes flow again.
    pub fn heal(&self) {
        let mut links = self.links.lock().expect("proxy links");
        links.cut_pids.clear();
        for c in &links.conns {
            c.cut.store(false, Ordering::Relaxed);
        }
        self.freeze(false);
    }
}

/// /proc/net/tcp's form of an IPv4 socket address: the address as a little-endian word, the
/// port big-endian, both in hex.
fn proc_addr(a: SocketAddr) -> Option<String> {
    let SocketAddr::V4(v4) = a else { return None };
    let o = v4.ip().octets();
    Some(format!("{:02X}{:02X}{:02X}{:02X}:{:04X}", o[3], o[2], o[1], o[0], v4.port()))
}

/// Whether the TCP socket at `local` connected to `remote` belongs to process `pid`.
fn dialled_by(pid: u32, local: SocketAddr, remote: SocketAddr) -> bool {
    let (Some(local), Some(remote)) = (proc_addr(local), proc_addr(remote)) else { return false };
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let inode = table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9 && f[1] == local && f[2] == remote).then(|| f[9].to_owned())
    });
    let Some(inode) = inode else { return false };
    let want = format!("socket:[{inode}]");
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.filter_map(|e| e.ok()).any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy() == want))
}

async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, gate: Gate) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        gate.wait_open().await;
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                // Bytes read just as the partition began are held back until it ends.
                gate.wait_open().await;
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
