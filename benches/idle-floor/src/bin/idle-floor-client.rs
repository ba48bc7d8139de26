//! `idle-floor-client PID N`: open N websockets to idle-floor-server (from 127.0.0.20, .21, ...:
//! 10,000 per source address), hold them, and print the server's RSS growth per connection.
//! Raise the open-file limit first (`ulimit -n 20000`).
use futures_util::StreamExt;
fn rss(pid: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines().find(|l| l.starts_with("VmRSS")).unwrap().split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
        * 1024
}
#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (pid, n): (String, usize) = (args[1].clone(), args[2].parse().unwrap());
    let port = std::env::var("IDLE_FLOOR_PORT").unwrap_or_else(|_| "18999".into());
    let before = rss(&pid);
    let mut held = Vec::new();
    for i in 0..n {
        let ip: std::net::IpAddr = format!("127.0.0.{}", 20 + i / 10000).parse().unwrap();
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind((ip, 0).into()).unwrap();
        let tcp = sock.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/ws"), tcp).await.unwrap();
        let _ = ws.next().await; // hello
        held.push(ws);
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let after = rss(&pid);
    println!(
        "{n} idle websockets: server RSS {} -> {} MiB, {:.1} KiB per connection",
        before >> 20,
        after >> 20,
        (after - before) as f64 / n as f64 / 1024.0
    );
}
