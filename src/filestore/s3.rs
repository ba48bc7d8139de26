//! FileSettings.DriverName "amazons3": objects in an S3 bucket (AWS or any S3-compatible store),
//! path-style URLs signed with SigV4, every key under AmazonS3PathPrefix.
//!
//! Writes are buffered one part at a time: a file up to [`PART_SIZE`] is one PUT when it is
//! finished; a larger one becomes a multipart upload whose parts go out as they fill, and which is
//! aborted when the write is aborted, fails, or is dropped unfinished. Nothing is visible at a key
//! until the write finishes. Reads stream the object's body; no file is held in memory whole.

use super::{check_path, pick_range, round_trip, ByteStream, FileBackend, FileStoreError, FileWriter, Slice};
use crate::config::FileSettings;
use ::s3::command::Command;
use ::s3::creds::Credentials;
use ::s3::error::S3Error;
use ::s3::serde_types::Part;
use ::s3::{Bucket, Region};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// FileSettings.AmazonS3UploadPartSizeBytes by default, and S3's minimum: the size of every
/// multipart part but the last, and the largest file sent as one PUT.
pub const PART_SIZE: usize = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_SIZE: usize = 5 * 1024 * 1024 * 1024;
/// S3 allows at most this many parts in one upload.
const MAX_PARTS: u32 = 10_000;
/// The longest any one request (a PUT, a part, a HEAD) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Health checks give up sooner, so that ping answers while S3 is away.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// A download whose body stalls this long is cut off (the download as a whole has no limit).
const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const CONTENT_TYPE: &str = "application/octet-stream";

pub struct S3Backend {
    inner: Arc<Inner>,
}

struct Inner {
    /// Requests with [`REQUEST_TIMEOUT`].
    bucket: Box<Bucket>,
    /// The same bucket without a total timeout, for streaming downloads.
    stream_bucket: Box<Bucket>,
    /// AmazonS3PathPrefix without surrounding slashes; empty for none.
    prefix: String,
    /// `http(s)://host[:port]`, for messages.
    endpoint: String,
    /// FileSettings.AmazonS3UploadPartSizeBytes, within [`PART_SIZE`]..=[`MAX_PART_SIZE`].
    part_size: usize,
}

impl S3Backend {
    pub fn new(s: &FileSettings) -> Result<Self, FileStoreError> {
        let config = |what: String| FileStoreError::Config(what);
        if s.amazon_s3_bucket.is_empty() {
            return Err(config("FileSettings.AmazonS3Bucket must be set".into()));
        }
        let endpoint = endpoint_url(s);
        let region = Region::Custom { region: region_name(s), endpoint: endpoint.clone() };
        let credentials = credentials(s)?;
        let bucket = Bucket::new(&s.amazon_s3_bucket, region, credentials)
            .map_err(|e| config(format!("FileSettings.AmazonS3*: {e}")))?
            .with_path_style();
        let stream_bucket = {
            let mut b = bucket.clone();
            b.set_request_timeout(None);
            b
        };
        let mut bucket = bucket;
        bucket.set_request_timeout(Some(REQUEST_TIMEOUT));
        let prefix = s.amazon_s3_path_prefix.trim_matches('/').to_owned();
        if !prefix.is_empty() {
            check_path(&prefix)
                .map_err(|_| config(format!("FileSettings.AmazonS3PathPrefix {prefix:?} is not a valid key prefix")))?;
        }
        let part_size = usize::try_from(s.amazon_s3_upload_part_size_bytes)
            .ok()
            .filter(|n| (PART_SIZE..=MAX_PART_SIZE).contains(n))
            .ok_or_else(|| {
                config(format!(
                    "FileSettings.AmazonS3UploadPartSizeBytes must be between {PART_SIZE} and {MAX_PART_SIZE}"
                ))
            })?;
        Ok(Self { inner: Arc::new(Inner { bucket, stream_bucket, prefix, endpoint, part_size }) })
    }
}

/// AmazonS3Region, or us-east-1 (what AWS assumes) when it is empty.
fn region_name(s: &FileSettings) -> String {
    match s.amazon_s3_region.trim() {
        "" => "us-east-1".to_owned(),
        r => r.to_owned(),
    }
}

/// `http(s)://host[:port]` from AmazonS3Endpoint and AmazonS3SSL. AWS's global endpoint becomes the
/// region's own, since path-style requests must go to the bucket's region.
fn endpoint_url(s: &FileSettings) -> String {
    let raw = s.amazon_s3_endpoint.trim().trim_end_matches('/');
    if raw.contains("://") {
        return raw.to_owned();
    }
    let scheme = if s.amazon_s3_ssl { "https" } else { "http" };
    let region = region_name(s);
    let host = match raw {
        "" | "s3.amazonaws.com" if region != "us-east-1" => format!("s3.{region}.amazonaws.com"),
        "" => "s3.amazonaws.com".to_owned(),
        other => other.to_owned(),
    };
    format!("{scheme}://{host}")
}

/// The configured key pair; with none configured, the usual AWS environment variables or profile.
fn credentials(s: &FileSettings) -> Result<Credentials, FileStoreError> {
    let (key, secret) = (s.amazon_s3_access_key_id.as_str(), s.amazon_s3_secret_access_key.as_str());
    match (key.is_empty(), secret.is_empty()) {
        (false, false) => Credentials::new(Some(key), Some(secret), None, None, None)
            .map_err(|e| FileStoreError::Config(format!("S3 credentials: {e}"))),
        (true, true) => Credentials::new(None, None, None, None, None).map_err(|_| {
            FileStoreError::Config(
                "no S3 credentials: set FileSettings.AmazonS3AccessKeyId and FileSettings.AmazonS3SecretAccessKey"
                    .into(),
            )
        }),
        _ => Err(FileStoreError::Config(
            "FileSettings.AmazonS3AccessKeyId and FileSettings.AmazonS3SecretAccessKey must be set together".into(),
        )),
    }
}

impl Inner {
    fn key(&self, path: &str) -> Result<String, FileStoreError> {
        check_path(path)?;
        Ok(if self.prefix.is_empty() { path.to_owned() } else { format!("{}/{path}", self.prefix) })
    }

    /// An S3 failure as the rest of the node sees it, saying what is wrong in operator's terms.
    fn error(&self, e: S3Error) -> FileStoreError {
        classify(&self.bucket.name(), e)
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), FileStoreError> {
        self.bucket.abort_upload(key, upload_id).await.map_err(|e| self.error(e))
    }
}

/// Codes with which S3 refuses a request's credentials.
const CREDENTIAL_CODES: &[&str] = &[
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "NotSignedUp",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidSecurity",
];

fn classify(bucket: &str, e: S3Error) -> FileStoreError {
    match e {
        S3Error::HttpFailWithBody(status, body) => {
            let code = xml_field(&body, "Code").unwrap_or_default();
            let message = xml_field(&body, "Message").unwrap_or_default();
            let detail = if message.is_empty() { code.to_owned() } else { format!("{code}: {message}") };
            match (status, code) {
                (_, "NoSuchBucket") => FileStoreError::Io(format!("S3 bucket {bucket:?} does not exist")),
                (404, "NoSuchKey" | "") => FileStoreError::NotFound,
                (_, c) if CREDENTIAL_CODES.contains(&c) => FileStoreError::Io(format!(
                    "S3 refused the credentials ({c}): check FileSettings.AmazonS3AccessKeyId and \
                     FileSettings.AmazonS3SecretAccessKey"
                )),
                (_, "AccessDenied") | (403, "") => FileStoreError::Io(format!(
                    "S3 denied access to bucket {bucket:?} (HTTP {status} {detail}): check the credentials \
                     and their permissions"
                )),
                (_, "AuthorizationHeaderMalformed") => FileStoreError::Io(format!(
                    "S3 refused the request's signature scope ({detail}): check FileSettings.AmazonS3Region"
                )),
                _ if detail.is_empty() => FileStoreError::Io(format!("S3 answered HTTP {status}")),
                _ => FileStoreError::Io(format!("S3 answered HTTP {status} ({detail})")),
            }
        }
        S3Error::Reqwest(e) => {
            let cause = root_cause(&e);
            if e.is_connect() {
                FileStoreError::Io(format!("S3 endpoint is unreachable: {cause}"))
            } else if e.is_timeout() {
                FileStoreError::Io("S3 endpoint did not answer in time".into())
            } else {
                FileStoreError::Io(format!("S3 request failed: {cause}"))
            }
        }
        S3Error::Credentials(e) => FileStoreError::Config(format!("S3 credentials: {e}")),
        other => FileStoreError::Io(format!("S3: {other}")),
    }
}

/// The innermost error of a chain: "Connection refused (os error 111)" rather than reqwest's
/// "error sending request for url".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The text of the first `<name>` element of an S3 error document.
fn xml_field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&format!("</{name}>"))?;
    Some(body[start..start + len].trim())
}

struct MultipartUpload {
    id: String,
    parts: Vec<Part>,
}

struct S3Writer {
    inner: Arc<Inner>,
    key: String,
    /// The bytes not sent yet: at most one part (plus the last chunk written).
    buf: Vec<u8>,
    upload: Option<MultipartUpload>,
    written: u64,
    /// Finished or aborted: nothing left to clean up on drop.
    closed: bool,
    /// A part failed to go out: the file can no longer be completed.
    failed: bool,
}

impl S3Writer {
    /// Send the first part-size bytes of the buffer as the next part, starting the multipart
    /// upload with the first one.
    async fn send_part(&mut self, last: bool) -> Result<(), FileStoreError> {
        let inner = Arc::clone(&self.inner);
        let part_size = inner.part_size;
        let part = if last {
            std::mem::take(&mut self.buf)
        } else {
            let mut rest = Vec::with_capacity(part_size + 64 * 1024);
            rest.extend_from_slice(&self.buf[part_size..]);
            self.buf.truncate(part_size);
            std::mem::replace(&mut self.buf, rest)
        };
        if self.upload.is_none() {
            let started =
                inner.bucket.initiate_multipart_upload(&self.key, CONTENT_TYPE).await.map_err(|e| inner.error(e))?;
            self.upload = Some(MultipartUpload { id: started.upload_id, parts: Vec::new() });
        }
        let upload = self.upload.as_mut().ok_or_else(|| FileStoreError::Io("multipart upload missing".into()))?;
        let number = upload.parts.len() as u32 + 1;
        if number > MAX_PARTS {
            return Err(FileStoreError::Io(format!("file too large for S3: more than {MAX_PARTS} parts")));
        }
        let sent = inner
            .bucket
            .put_multipart_chunk(part, &self.key, number, &upload.id, CONTENT_TYPE)
            .await
            .map_err(|e| inner.error(e))?;
        upload.parts.push(sent);
        Ok(())
    }

    async fn complete(&mut self) -> Result<(), FileStoreError> {
        let inner = Arc::clone(&self.inner);
        if self.upload.is_none() {
            let body = std::mem::take(&mut self.buf);
            inner
                .bucket
                .put_object_with_content_type(&self.key, &body, CONTENT_TYPE)
                .await
                .map_err(|e| inner.error(e))?;
            return Ok(());
        }
        if !self.buf.is_empty() {
            self.send_part(true).await?;
        }
        let upload = self.upload.as_ref().ok_or_else(|| FileStoreError::Io("multipart upload missing".into()))?;
        inner
            .bucket
            .complete_multipart_upload(&self.key, &upload.id, upload.parts.clone())
            .await
            .map_err(|e| inner.error(e))?;
        self.upload = None;
        Ok(())
    }

    fn usable(&self) -> Result<(), FileStoreError> {
        match (self.closed, self.failed) {
            (true, _) => Err(FileStoreError::Io("writer closed".into())),
            (_, true) => Err(FileStoreError::Io("an earlier part of this file failed to upload".into())),
            _ => Ok(()),
        }
    }

    /// Abort the multipart upload, if one was started.
    async fn discard(&mut self) -> Result<(), FileStoreError> {
        self.closed = true;
        self.buf = Vec::new();
        match self.upload.take() {
            Some(upload) => self.inner.abort_upload(&self.key, &upload.id).await,
            None => Ok(()),
        }
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // Dropped unfinished (the request went away): abort the multipart upload in the
        // background so that its parts do not linger in the bucket.
        if let (Some(upload), Ok(rt)) = (self.upload.take(), tokio::runtime::Handle::try_current()) {
            let inner = Arc::clone(&self.inner);
            let key = std::mem::take(&mut self.key);
            rt.spawn(async move {
                // Best effort: a bucket lifecycle rule for incomplete uploads is the backstop.
                let _aborted = inner.abort_upload(&key, &upload.id).await;
            });
        }
    }
}

#[async_trait(?Send)]
impl FileWriter for S3Writer {
    async fn write(&mut self, chunk: Bytes) -> Result<(), FileStoreError> {
        self.usable()?;
        self.buf.extend_from_slice(&chunk);
        self.written += chunk.len() as u64;
        while self.buf.len() > self.inner.part_size {
            if let Err(e) = self.send_part(false).await {
                self.failed = true;
                return Err(e);
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, FileStoreError> {
        if let Err(e) = self.usable() {
            let _aborted = self.discard().await;
            return Err(e);
        }
        match self.complete().await {
            Ok(()) => {
                self.closed = true;
                Ok(self.written)
            }
            Err(e) => {
                // The store may be away: the abort is best effort, the original error is the news.
                let _aborted = self.discard().await;
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) {
        let _aborted = self.discard().await;
    }
}

/// Cut a download off when its body stalls, and when it ends short of the size S3 announced.
fn guarded(body: ::s3::request::DataStream, size: u64) -> ByteStream {
    struct State {
        body: ::s3::request::DataStream,
        seen: u64,
        done: bool,
    }
    futures_util::stream::unfold(State { body, seen: 0, done: false }, move |mut st| async move {
        if st.done {
            return None;
        }
        let item = match tokio::time::timeout(READ_IDLE_TIMEOUT, st.body.next()).await {
            Ok(Some(Ok(chunk))) => {
                st.seen += chunk.len() as u64;
                return Some((Ok(chunk), st));
            }
            Ok(None) if st.seen == size => return None,
            Ok(None) => {
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("S3 sent {} of {size} bytes", st.seen))
            }
            Ok(Some(Err(e))) => std::io::Error::other(format!("S3 download failed: {e}")),
            Err(_) => std::io::Error::new(std::io::ErrorKind::TimedOut, "S3 download stalled"),
        };
        st.done = true;
        Some((Err(item), st))
    })
    .boxed_local()
}

#[async_trait(?Send)]
impl FileBackend for S3Backend {
    async fn writer(&self, path: &str) -> Result<Box<dyn FileWriter>, FileStoreError> {
        let key = self.inner.key(path)?;
        Ok(Box::new(S3Writer {
            inner: Arc::clone(&self.inner),
            key,
            buf: Vec::new(),
            upload: None,
            written: 0,
            closed: false,
            failed: false,
        }))
    }

    async fn slice(&self, path: &str, range_header: Option<&str>) -> Result<Slice, FileStoreError> {
        use ::s3::request::{tokio_backend::ReqwestRequest, Request};
        let inner = &self.inner;
        let key = inner.key(path)?;
        let (head, _) = inner.bucket.head_object(&key).await.map_err(|e| inner.error(e))?;
        let size = head.content_length.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        let range = pick_range(range_header, size)?;
        let get = async {
            match &range {
                None => inner.stream_bucket.get_object_stream(&key).await,
                Some(r) => {
                    let command = Command::GetObjectRange { start: *r.start(), end: Some(*r.end()) };
                    ReqwestRequest::new(&inner.stream_bucket, &key, command).await?.response_data_to_stream().await
                }
            }
        };
        let response = tokio::time::timeout(REQUEST_TIMEOUT, get)
            .await
            .map_err(|_| FileStoreError::Io("S3 endpoint did not answer in time".into()))?
            .map_err(|e| inner.error(e))?;
        let expected = match &range {
            None => size,
            Some(r) if response.status_code == 206 => r.end() - r.start() + 1,
            Some(_) => {
                return Err(FileStoreError::Io(format!(
                    "S3 answered a range request with HTTP {} instead of 206",
                    response.status_code
                )))
            }
        };
        Ok(Slice { body: guarded(response.bytes, expected), size, range })
    }

    async fn remove(&self, path: &str) -> Result<(), FileStoreError> {
        let inner = &self.inner;
        let key = inner.key(path)?;
        match inner.bucket.delete_object(&key).await.map_err(|e| inner.error(e)) {
            Ok(_) | Err(FileStoreError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn list(&self, folder: &str) -> Result<Vec<String>, FileStoreError> {
        let inner = &self.inner;
        let prefix = format!("{}/", inner.key(folder)?);
        let pages = tokio::time::timeout(REQUEST_TIMEOUT, inner.bucket.list(prefix.clone(), Some("/".into())))
            .await
            .map_err(|_| FileStoreError::Io("S3 endpoint did not answer in time".into()))?
            .map_err(|e| inner.error(e))?;
        let mut names: Vec<String> = pages
            .iter()
            .flat_map(|p| p.contents.iter())
            .filter_map(|o| o.key.strip_prefix(&prefix).map(str::to_owned))
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The bucket is listed first (a missing bucket is NoSuchBucket there, while some S3-compatible
    /// stores create one on a PUT), then a file makes a real round trip.
    async fn check(&self) -> Result<(), FileStoreError> {
        let quick = S3Backend {
            inner: Arc::new(Inner {
                bucket: self.inner.bucket.with_request_timeout(CHECK_TIMEOUT).map_err(|e| self.inner.error(e))?,
                stream_bucket: self
                    .inner
                    .bucket
                    .with_request_timeout(CHECK_TIMEOUT)
                    .map_err(|e| self.inner.error(e))?,
                prefix: self.inner.prefix.clone(),
                endpoint: self.inner.endpoint.clone(),
                part_size: self.inner.part_size,
            }),
        };
        let inner = &quick.inner;
        inner
            .bucket
            .list_page(inner.key("health_check")?, None, None, None, Some(1))
            .await
            .map_err(|e| inner.error(e))?;
        round_trip(&quick).await
    }

    fn driver_name(&self) -> &'static str {
        "amazons3"
    }

    fn describe(&self) -> String {
        format!("amazons3 bucket {:?} at {}", self.inner.bucket.name(), self.inner.endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str, region: &str, ssl: bool) -> FileSettings {
        FileSettings {
            driver_name: "amazons3".into(),
            amazon_s3_bucket: "b".into(),
            amazon_s3_endpoint: endpoint.into(),
            amazon_s3_region: region.into(),
            amazon_s3_ssl: ssl,
            amazon_s3_access_key_id: "k".into(),
            amazon_s3_secret_access_key: "s".into(),
            ..FileSettings::default()
        }
    }

    #[test]
    fn endpoints() {
        assert_eq!(endpoint_url(&settings("127.0.0.1:9000", "", false)), "http://127.0.0.1:9000");
        assert_eq!(endpoint_url(&settings("minio.local", "x", true)), "https://minio.local");
        assert_eq!(endpoint_url(&settings("http://h:1/", "", true)), "http://h:1");
        assert_eq!(endpoint_url(&settings("s3.amazonaws.com", "", true)), "https://s3.amazonaws.com");
        assert_eq!(
            endpoint_url(&settings("s3.amazonaws.com", "eu-west-1", true)),
            "https://s3.eu-west-1.amazonaws.com"
        );
        assert_eq!(region_name(&settings("", "", true)), "us-east-1");
    }

    #[test]
    fn keys_carry_the_prefix() {
        let mut s = settings("127.0.0.1:1", "", false);
        s.amazon_s3_path_prefix = "/team/files/".into();
        let b = S3Backend::new(&s).unwrap();
        assert_eq!(b.inner.key("a/b.txt").unwrap(), "team/files/a/b.txt");
        assert!(b.inner.key("../x").is_err());
        s.amazon_s3_path_prefix = "a/../b".into();
        assert!(S3Backend::new(&s).is_err());
        s.amazon_s3_path_prefix = String::new();
        assert_eq!(S3Backend::new(&s).unwrap().inner.key("x").unwrap(), "x");
        s.amazon_s3_upload_part_size_bytes = PART_SIZE as i64 - 1;
        assert!(matches!(S3Backend::new(&s), Err(FileStoreError::Config(_))), "parts under S3's 5 MiB");
        s.amazon_s3_upload_part_size_bytes = 8 * 1024 * 1024;
        assert_eq!(S3Backend::new(&s).unwrap().inner.part_size, 8 * 1024 * 1024);
        s.amazon_s3_secret_access_key = String::new();
        assert!(matches!(S3Backend::new(&s), Err(FileStoreError::Config(_))));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let body =
            |code: &str| format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>m</Message></Error>");
        let msg = |status, code: &str| classify("bk", S3Error::HttpFailWithBody(status, body(code))).to_string();
        assert!(msg(403, "SignatureDoesNotMatch").contains("refused the credentials (SignatureDoesNotMatch)"));
        assert!(msg(403, "InvalidAccessKeyId").contains("AmazonS3AccessKeyId"));
        assert!(msg(404, "NoSuchBucket").contains("bucket \"bk\" does not exist"));
        assert!(msg(403, "AccessDenied").contains("denied access"));
        assert!(msg(400, "AuthorizationHeaderMalformed").contains("AmazonS3Region"));
        assert!(msg(500, "InternalError").contains("HTTP 500 (InternalError: m)"));
        assert!(matches!(classify("bk", S3Error::HttpFailWithBody(404, String::new())), FileStoreError::NotFound));
        assert!(matches!(classify("bk", S3Error::HttpFailWithBody(404, body("NoSuchKey"))), FileStoreError::NotFound));
        assert_eq!(xml_field("<a><Code> X </Code></a>", "Code"), Some("X"));
        assert_eq!(xml_field("<a></a>", "Code"), None);
    }
}
