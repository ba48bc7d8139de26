//! Where uploaded bytes live. One interface, one driver per FileSettings.DriverName; the rest of
//! the node only sees [`FileBackend`].

mod local;
mod s3;

pub use local::LocalBackend;
pub use s3::{S3Backend, PART_SIZE as S3_PART_SIZE};

use crate::config::FileSettings;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::LocalBoxStream;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    #[error("file not found")]
    NotFound,
    #[error("file store: {0}")]
    Io(String),
    #[error("file store misconfigured: {0}")]
    Config(String),
}

impl From<std::io::Error> for FileStoreError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind;
        // The failures an operator fixes on the store itself, in words of ours (ping shows them).
        let said = match e.kind() {
            ErrorKind::NotFound => return FileStoreError::NotFound,
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => "no space left in the directory",
            ErrorKind::ReadOnlyFilesystem => "the directory is read-only",
            ErrorKind::PermissionDenied => "the node may not write to the directory",
            _ => return FileStoreError::Io(e.to_string()),
        };
        FileStoreError::Io(said.to_owned())
    }
}

/// A file being written. Nothing is visible at its path until [`FileWriter::finish`] succeeds;
/// [`FileWriter::abort`] (or dropping it unfinished, for the local driver) leaves nothing behind.
#[async_trait(?Send)]
pub trait FileWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), FileStoreError>;
    async fn finish(self: Box<Self>) -> Result<u64, FileStoreError>;
    async fn abort(self: Box<Self>);
}

pub type ByteStream = LocalBoxStream<'static, Result<Bytes, std::io::Error>>;

#[async_trait(?Send)]
pub trait FileBackend: Send + Sync {
    async fn writer(&self, path: &str) -> Result<Box<dyn FileWriter>, FileStoreError>;
    /// The file's bytes as a stream, and its size.
    async fn reader(&self, path: &str) -> Result<(ByteStream, u64), FileStoreError>;
    async fn remove(&self, path: &str) -> Result<(), FileStoreError>;
    /// The names of the files directly in `folder` (none if it does not exist), sorted.
    async fn list(&self, folder: &str) -> Result<Vec<String>, FileStoreError>;
    /// A real round trip to the store (write, read back, delete), for health checks.
    async fn check(&self) -> Result<(), FileStoreError>;
    fn driver_name(&self) -> &'static str;
    /// Where the files go, for messages: the driver and its bucket or directory, never secrets.
    fn describe(&self) -> String {
        self.driver_name().to_owned()
    }
}

pub type FileStore = Arc<dyn FileBackend>;

/// The backend FileSettings asks for.
pub fn from_settings(s: &FileSettings) -> Result<FileStore, FileStoreError> {
    match s.driver_name.as_str() {
        "local" => Ok(Arc::new(LocalBackend::new(&s.directory)?)),
        "amazons3" => Ok(Arc::new(S3Backend::new(s)?)),
        other => Err(FileStoreError::Config(format!("driver {other:?} is not available in this build"))),
    }
}

/// A whole file, refused (as too large) past `max` bytes.
pub async fn read_all(files: &dyn FileBackend, path: &str, max: u64) -> Result<Vec<u8>, FileStoreError> {
    use futures_util::StreamExt;
    let (mut stream, size) = files.reader(path).await?;
    if size > max {
        return Err(FileStoreError::Io(format!("{path} is {size} bytes, over {max}")));
    }
    let mut out = Vec::with_capacity(size as usize);
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
        if out.len() as u64 > max {
            return Err(FileStoreError::Io(format!("{path} is over {max} bytes")));
        }
    }
    Ok(out)
}

/// Write a whole file.
pub async fn write_all(files: &dyn FileBackend, path: &str, bytes: Vec<u8>) -> Result<u64, FileStoreError> {
    let mut w = files.writer(path).await?;
    if let Err(e) = w.write(Bytes::from(bytes)).await {
        w.abort().await;
        return Err(e);
    }
    w.finish().await
}

/// Reject paths that could escape the store's root.
pub(crate) fn check_path(path: &str) -> Result<(), FileStoreError> {
    if path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(FileStoreError::Io(format!("invalid path {path:?}")));
    }
    Ok(())
}

/// A file round trip shared by the drivers' health checks.
pub(crate) async fn round_trip(b: &dyn FileBackend) -> Result<(), FileStoreError> {
    use futures_util::StreamExt;
    let path = format!("health_check/{}", starling_protocol::new_id());
    let payload = Bytes::from_static(b"starling health check");
    let mut w = b.writer(&path).await?;
    w.write(payload.clone()).await?;
    w.finish().await?;
    let (mut stream, _) = b.reader(&path).await?;
    let mut got = Vec::new();
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk?);
    }
    b.remove(&path).await?;
    if got != payload {
        return Err(FileStoreError::Io("health check read back different bytes".into()));
    }
    Ok(())
}
