//! slog set up from LogSettings: human (or JSON) console output plus a JSON file log, each with
//! its own level. Messages are short constants; variable data goes in keys. Never log secrets.

use crate::config::LogSettings;
use slog::{o, Drain, Level, Logger};
use std::fs::OpenOptions;
use std::path::PathBuf;

pub fn level(name: &str) -> Level {
    match name.to_ascii_uppercase().as_str() {
        "TRACE" => Level::Trace,
        "DEBUG" => Level::Debug,
        "INFO" => Level::Info,
        "WARN" => Level::Warning,
        "ERROR" => Level::Error,
        _ => Level::Critical,
    }
}

/// Where the file log goes: `<FileLocation or ./logs>/starling.log`.
pub fn file_path(s: &LogSettings) -> PathBuf {
    let dir = if s.file_location.is_empty() { "./logs" } else { s.file_location.as_str() };
    PathBuf::from(dir).join("starling.log")
}

type BoxDrain = Box<dyn Drain<Ok = (), Err = slog::Never> + Send>;

/// Build the node's root logger. The returned guard flushes the async drain when dropped.
pub fn build(s: &LogSettings) -> std::io::Result<(Logger, slog_async::AsyncGuard)> {
    let mut drains: Vec<BoxDrain> = Vec::new();
    if s.enable_console {
        let lvl = level(&s.console_level);
        if s.console_json {
            let d = slog_json::Json::default(std::io::stdout()).fuse();
            drains.push(Box::new(d.filter_level(lvl).fuse()));
        } else {
            let decorator = slog_term::TermDecorator::new().stdout().build();
            let d = slog_term::FullFormat::new(decorator).build().fuse();
            drains.push(Box::new(d.filter_level(lvl).fuse()));
        }
    }
    if s.enable_file {
        let path = file_path(s);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let lvl = level(&s.file_level);
        if s.file_json {
            let d = slog_json::Json::default(file).fuse();
            drains.push(Box::new(d.filter_level(lvl).fuse()));
        } else {
            let decorator = slog_term::PlainDecorator::new(file);
            let d = slog_term::FullFormat::new(decorator).build().fuse();
            drains.push(Box::new(d.filter_level(lvl).fuse()));
        }
    }
    let fan = Fanout { drains };
    let (drain, guard) = slog_async::Async::new(fan.fuse()).chan_size(8192).build_with_guard();
    Ok((Logger::root(drain.fuse(), o!()), guard))
}

struct Fanout {
    drains: Vec<BoxDrain>,
}

impl Drain for Fanout {
    type Ok = ();
    type Err = slog::Never;
    fn log(&self, record: &slog::Record, values: &slog::OwnedKVList) -> Result<(), slog::Never> {
        for d in &self.drains {
            let _ = d.log(record, values); // Err is Never
        }
        Ok(())
    }
}
