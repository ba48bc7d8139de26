//! A real NGINX in front of test nodes, from deploy/nginx/starling.conf.template.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Nginx {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

fn binary() -> String {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if std::path::Path::new(p).exists() {
            return p.to_owned();
        }
    }
    "nginx".to_owned()
}

impl Nginx {
    /// Start NGINX on a free port in front of these HTTP ports.
    pub fn start(http_ports: &[u16]) -> Nginx {
        let dir = super::temp_dir("nginx");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let port = super::cluster::free_port();
        let upstreams: String =
            http_ports.iter().map(|p| format!("server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n        ")).collect();
        // The workspace root's deploy/ (this harness is shared by the root package and examples/).
        let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|d| d.join("deploy/nginx/starling.conf.template"))
            .find(|p| p.exists())
            .and_then(|p| std::fs::read_to_string(p).ok())
            .expect("template");
        let conf = template
            .replace("@@PREFIX@@", &dir.to_string_lossy())
            .replace("@@LISTEN@@", &format!("127.0.0.1:{port}"))
            .replace("@@UPSTREAMS@@", upstreams.trim_end());
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        Self::run(dir, port, &conf_path)
    }

    /// NGINX (not as a daemon) with the config at `conf`, prefix `dir`, listening on `port`.
    pub fn run(dir: PathBuf, port: u16, conf_path: &std::path::Path) -> Nginx {
        let child = Command::new(binary())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(conf_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (scripts/test installs it)");
        Nginx { port, dir, child: Some(child) }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    /// SIGTERM first: the master then stops its workers (a SIGKILLed master leaves them running).
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            for _ in 0..100 {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
