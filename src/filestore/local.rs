//! FileSettings.DriverName "local": a directory (shared NAS in a cluster). Writes go to a temporary
//! file beside the target and are renamed into place when complete.

use super::{check_path, pick_range, round_trip, FileBackend, FileStoreError, FileWriter, Slice};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

pub struct LocalBackend {
    root: PathBuf,
}

impl LocalBackend {
    pub fn new(dir: &str) -> Result<Self, FileStoreError> {
        let root = PathBuf::from(dir);
        std::fs::create_dir_all(&root).map_err(|e| FileStoreError::Config(format!("cannot create {dir}: {e}")))?;
        Ok(Self { root })
    }

    fn full(&self, path: &str) -> Result<PathBuf, FileStoreError> {
        check_path(path)?;
        Ok(self.root.join(path))
    }
}

struct LocalWriter {
    tmp: PathBuf,
    target: PathBuf,
    file: Option<tokio::fs::File>,
    written: u64,
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Dropped unfinished: leave no partial file.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[async_trait(?Send)]
impl FileWriter for LocalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), FileStoreError> {
        let f = self.file.as_mut().ok_or_else(|| FileStoreError::Io("writer closed".into()))?;
        f.write_all(&chunk).await?;
        self.written += chunk.len() as u64;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, FileStoreError> {
        let mut f = self.file.take().ok_or_else(|| FileStoreError::Io("writer closed".into()))?;
        let result = async {
            f.flush().await?;
            f.sync_all().await?;
            drop(f);
            tokio::fs::rename(&self.tmp, &self.target).await
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&self.tmp).await;
            return Err(e.into());
        }
        Ok(self.written)
    }

    async fn abort(mut self: Box<Self>) {
        self.file.take();
        let _ = tokio::fs::remove_file(&self.tmp).await;
    }
}

#[async_trait(?Send)]
impl FileBackend for LocalBackend {
    async fn writer(&self, path: &str) -> Result<Box<dyn FileWriter>, FileStoreError> {
        let target = self.full(path)?;
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let tmp = target.with_extension(format!("part-{}", starling_protocol::new_id()));
        let file = tokio::fs::File::create(&tmp).await?;
        Ok(Box::new(LocalWriter { tmp, target, file: Some(file), written: 0 }))
    }

    async fn slice(&self, path: &str, range_header: Option<&str>) -> Result<Slice, FileStoreError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let full = self.full(path)?;
        let mut file = tokio::fs::File::open(&full).await?;
        let size = file.metadata().await?.len();
        let range = pick_range(range_header, size)?;
        let body = match &range {
            None => tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).boxed_local(),
            Some(r) => {
                file.seek(std::io::SeekFrom::Start(*r.start())).await?;
                let len = r.end() - r.start() + 1;
                tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024).boxed_local()
            }
        };
        Ok(Slice { body, size, range })
    }

    async fn remove(&self, path: &str) -> Result<(), FileStoreError> {
        match tokio::fs::remove_file(self.full(path)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self, folder: &str) -> Result<Vec<String>, FileStoreError> {
        let mut dir = match tokio::fs::read_dir(self.full(folder)?).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e.into()),
        };
        let mut names = Vec::new();
        while let Some(entry) = dir.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Files still being written (`name.part-<id>`) are not there yet.
            if entry.file_type().await?.is_file() && !name.contains(".part-") {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    async fn check(&self) -> Result<(), FileStoreError> {
        round_trip(self).await
    }

    fn driver_name(&self) -> &'static str {
        "local"
    }
}
