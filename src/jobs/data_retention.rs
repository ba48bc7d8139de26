//! `data_retention`: permanently deletes posts older than MessageRetentionDays (with the replies of
//! those that start a thread, and their files), and files older than FileRetentionDays. Nothing
//! else: channels, users and younger posts stay.
//!
//! Each batch removes the files' bytes first and then, in one transaction, the rows. A run cut
//! short (node killed, store error) leaves at worst rows whose bytes are already gone; the next run
//! finds the same rows and finishes them (removing a missing file succeeds), so re-running after a
//! partial run is safe. A reply that arrives for a root being deleted is caught by a last pass
//! over replies whose root is gone.

use crate::config::DataRetentionSettings;
use crate::filestore::FileStore;
use crate::store::{FileToDelete, Store};
use starling_actors::jobs::{JobControl, STOPPED};
use std::collections::BTreeMap;
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;

struct Progress<'a> {
    control: &'a JobControl,
    total: i64,
    done: i64,
    posts: u64,
    files: u64,
}

impl Progress<'_> {
    fn add(&mut self, units: i64) {
        self.done += units;
        self.control.set_progress(self.done * 100 / self.total.max(1));
    }
}

pub async fn run(
    store: &Store,
    files: &FileStore,
    settings: &DataRetentionSettings,
    control: &JobControl,
    log: &slog::Logger,
) -> Result<BTreeMap<String, String>, String> {
    let e = |e: crate::store::StoreError| e.to_string();
    let now = store.db_now_ms().await.map_err(e)?;
    let post_cutoff = settings.enable_message_deletion.then(|| now - settings.message_retention_days * DAY_MS);
    let file_cutoff = settings.enable_file_deletion.then(|| now - settings.file_retention_days * DAY_MS);
    let batch = settings.batch_size.max(1);
    let pause = Duration::from_millis(settings.time_between_batches_milliseconds.max(0) as u64);
    let mut total = 0;
    if let Some(c) = post_cutoff {
        total += store.count_posts_before(c).await.map_err(e)?;
    }
    if let Some(c) = file_cutoff {
        total += store.count_files_before(c).await.map_err(e)?;
    }
    let mut p = Progress { control, total, done: 0, posts: 0, files: 0 };

    if let Some(cutoff) = post_cutoff {
        loop {
            let ids = store.expired_posts(cutoff, batch).await.map_err(e)?;
            if ids.is_empty() {
                break;
            }
            delete_posts(store, files, &ids, &mut p).await?;
            pause_or_stop(control, pause).await?;
        }
        loop {
            let ids = store.orphaned_replies(batch).await.map_err(e)?;
            if ids.is_empty() {
                break;
            }
            delete_posts(store, files, &ids, &mut p).await?;
            pause_or_stop(control, pause).await?;
        }
    }
    if let Some(cutoff) = file_cutoff {
        loop {
            let old = store.expired_files(cutoff, batch).await.map_err(e)?;
            if old.is_empty() {
                break;
            }
            remove_bytes(files, &old).await?;
            let ids: Vec<String> = old.into_iter().map(|f| f.id).collect();
            let (_, n) = store.delete_posts_and_files(&[], &ids).await.map_err(e)?;
            p.files += n;
            p.add(n as i64);
            pause_or_stop(control, pause).await?;
        }
    }
    slog::info!(log, "data retention done"; "posts_deleted" => p.posts, "files_deleted" => p.files);
    Ok(BTreeMap::from([
        ("posts_deleted".to_owned(), p.posts.to_string()),
        ("files_deleted".to_owned(), p.files.to_string()),
    ]))
}

async fn delete_posts(store: &Store, files: &FileStore, ids: &[String], p: &mut Progress<'_>) -> Result<(), String> {
    let attached = store.files_of_posts(ids).await.map_err(|e| e.to_string())?;
    remove_bytes(files, &attached).await?;
    let file_ids: Vec<String> = attached.into_iter().map(|f| f.id).collect();
    let (posts, n) = store.delete_posts_and_files(ids, &file_ids).await.map_err(|e| e.to_string())?;
    p.posts += posts;
    p.files += n;
    p.add(posts as i64);
    Ok(())
}

async fn remove_bytes(files: &FileStore, list: &[FileToDelete]) -> Result<(), String> {
    for f in list {
        // Removing a file that is already gone succeeds, so a re-run after a partial run is fine.
        files.remove(&f.path).await.map_err(|e| format!("cannot remove file {}: {e}", f.id))?;
    }
    Ok(())
}

/// Between batches: stop if asked to, else wait TimeBetweenBatchesMilliseconds.
async fn pause_or_stop(control: &JobControl, pause: Duration) -> Result<(), String> {
    if control.should_stop() || (!pause.is_zero() && !control.sleep(pause).await) {
        return Err(STOPPED.into());
    }
    Ok(())
}
