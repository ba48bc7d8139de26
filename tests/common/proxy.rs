//! A TCP proxy a test can freeze: while frozen it forwards nothing either way and new
//! connections hang, as across a network partition (the sockets stay open, nothing arrives).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone)]
pub struct Proxy {
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    /// Forward `listen` to `target`.
    pub async fn start(listen: &str, target: &str) -> Proxy {
        let listener = TcpListener::bind(listen).await.expect("proxy listens");
        let frozen = Arc::new(AtomicBool::new(false));
        let (f, target) = (frozen.clone(), target.to_owned());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (f, target) = (f.clone(), target.clone());
                tokio::spawn(async move {
                    // A dial during the partition gets no further than the accept.
                    while f.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let Ok(server) = TcpStream::connect(&target).await else { return };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pump(cr, sw, f.clone()));
                    tokio::spawn(pump(sr, cw, f));
                });
            }
        });
        Proxy { frozen }
    }

    pub fn freeze(&self, on: bool) {
        self.frozen.store(on, Ordering::Relaxed);
    }
}

async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, f: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while f.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                // Bytes read just as the partition began are held back until it ends.
                while f.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
