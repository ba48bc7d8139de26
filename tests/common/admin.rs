//! Running `starling admin` (and other commands) as an operator does, for the tests.

use serde_json::Value;
use std::path::Path;

/// What a command printed, and its exit code.
pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl Run {
    pub fn of(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.out).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.out))
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "exit code; stdout: {}\nstderr: {}", self.out, self.err);
        self
    }
}

/// `starling admin ARGS` with its own credentials file.
pub async fn admin(creds: &Path, args: &[&str]) -> Run {
    let Some(bin) = option_env!("CARGO_BIN_EXE_starling") else {
        panic!("only the starling package's tests have its binary")
    };
    let out = tokio::process::Command::new(bin)
        .arg("admin")
        .args(args)
        .env("STARLING_ADMIN_CONFIG", creds)
        .output()
        .await
        .expect("starling admin runs");
    Run::of(out)
}
