//! The cleanup jobs: expired sessions, ClusterDiscovery rows of nodes long gone, and old finished
//! jobs (JobSettings.CleanupJobsThresholdDays). Each deletes by a cutoff, so running one again is
//! harmless.

use crate::store::Store;
use starling_actors::cluster::discovery::STALE_AFTER;
use starling_actors::jobs::{JobControl, STOPPED};
use std::collections::BTreeMap;

const BATCH: i64 = 1000;
const DAY_MS: i64 = 86_400_000;

fn deleted(n: u64) -> BTreeMap<String, String> {
    BTreeMap::from([("deleted".to_owned(), n.to_string())])
}

/// Delete sessions past their expiry, a batch at a time.
pub async fn expired_sessions(store: &Store, control: &JobControl) -> Result<BTreeMap<String, String>, String> {
    let mut total = 0;
    loop {
        let n = store.delete_expired_sessions(BATCH).await.map_err(|e| e.to_string())?;
        total += n;
        if n < BATCH as u64 {
            return Ok(deleted(total));
        }
        if control.should_stop() {
            return Err(STOPPED.into());
        }
    }
}

/// Delete discovery rows not refreshed for [`STALE_AFTER`] (live nodes refresh theirs every minute).
pub async fn cluster_discovery(store: &Store) -> Result<BTreeMap<String, String>, String> {
    let e = |e: crate::store::StoreError| e.to_string();
    let before = store.db_now_ms().await.map_err(e)? - STALE_AFTER.as_millis() as i64;
    Ok(deleted(store.delete_stale_discovery(before).await.map_err(e)?))
}

/// Delete finished jobs created more than `threshold_days` ago (-1: keep them all).
pub async fn jobs(
    store: &Store,
    threshold_days: i64,
    control: &JobControl,
) -> Result<BTreeMap<String, String>, String> {
    if threshold_days < 0 {
        return Ok(deleted(0));
    }
    let e = |e: crate::store::StoreError| e.to_string();
    let before = store.db_now_ms().await.map_err(e)? - threshold_days * DAY_MS;
    let mut total = 0;
    loop {
        let n = store.delete_finished_jobs(before, BATCH).await.map_err(e)?;
        total += n;
        if n < BATCH as u64 {
            return Ok(deleted(total));
        }
        if control.should_stop() {
            return Err(STOPPED.into());
        }
    }
}
