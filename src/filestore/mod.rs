//! Where uploaded bytes live. One interface, one driver per FileSettings.DriverName; the rest of
//! the node only sees [`FileBackend`].

mod local;
mod s3;

pub use local::LocalBackend;
pub use s3::{S3Backend, MAX_PART_SIZE as S3_MAX_PART_SIZE, PART_SIZE as S3_PART_SIZE};

use crate::config::FileSettings;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::LocalBoxStream;
use std::ops::RangeInclusive;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    #[error("file not found")]
    NotFound,
    #[error("file store: {0}")]
    Io(String),
    #[error("file store misconfigured: {0}")]
    Config(String),
    /// A byte range that does not overlap the file, which is this many bytes long.
    #[error("range not satisfiable: the file is {0} bytes")]
    RangeNotSatisfiable(u64),
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

/// Part of a file being read: `body` carries the bytes `range` (inclusive) of a file of `size`
/// bytes; `range` is None when the body is the whole file.
pub struct Slice {
    pub body: ByteStream,
    pub size: u64,
    pub range: Option<RangeInclusive<u64>>,
}

/// The one byte range of an HTTP `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) within a
/// file of `size` bytes. None serves the whole file: no header, one that does not parse, or
/// several ranges (HTTP lets a server answer those with the whole file, as this one does). A range
/// that does not overlap the file is [`FileStoreError::RangeNotSatisfiable`].
pub fn pick_range(header: Option<&str>, size: u64) -> Result<Option<RangeInclusive<u64>>, FileStoreError> {
    use http_range_header::{EndPosition, StartPosition};
    let Some(parsed) = header.and_then(|h| http_range_header::parse_range_header(h).ok()) else {
        return Ok(None);
    };
    let [one] = parsed.ranges.as_slice() else {
        return Ok(None);
    };
    if size == 0 {
        return Err(FileStoreError::RangeNotSatisfiable(0));
    }
    let start = match one.start {
        // A suffix longer than the file is the whole file (RFC 9110 14.1.2).
        StartPosition::FromLast(n) if n > 0 => size.saturating_sub(n),
        StartPosition::FromLast(_) => size,
        StartPosition::Index(i) => i,
    };
    let end = match one.end {
        EndPosition::Index(i) => i.min(size - 1),
        EndPosition::LastByte => size - 1,
    };
    if start > end {
        return Err(FileStoreError::RangeNotSatisfiable(size));
    }
    Ok(Some(start..=end))
}

#[async_trait(?Send)]
pub trait FileBackend: Send + Sync {
    async fn writer(&self, path: &str) -> Result<Box<dyn FileWriter>, FileStoreError>;
    /// The file's bytes as a stream, and its size.
    async fn reader(&self, path: &str) -> Result<(ByteStream, u64), FileStoreError> {
        let slice = self.slice(path, None).await?;
        Ok((slice.body, slice.size))
    }
    /// The bytes of the file that an HTTP `Range` header asks for (see [`pick_range`]), read from
    /// the store as a range: a 10 GB video is not fetched whole to serve its last megabyte.
    async fn slice(&self, path: &str, range_header: Option<&str>) -> Result<Slice, FileStoreError>;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_http_reads_them() {
        let pick = |h: &str, size| pick_range(Some(h), size).map_err(|e| e.to_string());
        assert_eq!(pick("bytes=0-9", 100), Ok(Some(0..=9)));
        assert_eq!(pick("bytes=90-", 100), Ok(Some(90..=99)));
        assert_eq!(pick("bytes=-10", 100), Ok(Some(90..=99)));
        assert_eq!(pick("bytes=95-200", 100), Ok(Some(95..=99)), "the end is cut to the file");
        assert_eq!(pick("bytes=0-1,5-6", 100), Ok(None), "several ranges: the whole file");
        assert_eq!(pick("lines=1-2", 100), Ok(None), "not bytes: ignored");
        assert_eq!(pick("bytes=x-y", 100), Ok(None), "unparsable: ignored");
        assert_eq!(pick("bytes=100-", 100), Err("range not satisfiable: the file is 100 bytes".into()));
        assert_eq!(pick("bytes=0-0", 0), Err("range not satisfiable: the file is 0 bytes".into()));
        assert_eq!(pick("bytes=-200", 100), Ok(Some(0..=99)), "a suffix longer than the file");
        assert_eq!(pick("bytes=-0", 100), Ok(None), "an empty suffix does not parse: ignored");
        assert_eq!(pick("bytes=5-4", 100), Err("range not satisfiable: the file is 100 bytes".into()), "reversed");
        assert_eq!(pick_range(None, 100).ok(), Some(None));
    }
}
