//! Group commit of new posts, per channel. Every post takes its channel's row (the channel's post
//! clock orders its posts) until its transaction commits, so in a busy channel posts queue behind
//! each other's WAL flush: about 1,000 posts/s in one channel on a disk that flushes in 1 ms.
//!
//! Posts to a channel that has none in flight go at once, alone (no added latency). Posts that
//! arrive while one is in flight wait, and when it is done they go together in one transaction,
//! one savepoint each (a post that fails is rolled back alone and gets its own error), in the
//! order they arrived, which is the order of their post clocks; one commit flushes them all. Each
//! caller gets its result only after that commit: an acknowledged post is durable.
//!
//! The batches run in a task of their own, so a request that goes away does not stop the posts
//! queued behind it. Bounded: a channel's queue holds at most [`MAX_QUEUED`] posts, past which a
//! post is refused as the database being busy (503); a batch takes at most [`MAX_BATCH`].

use super::posts::{NewPost, Post};

use super::{Store, StoreError, StoreResult};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::oneshot;

/// The most posts one transaction carries.
pub const MAX_BATCH: usize = 64;
/// The most posts that wait for one channel.
pub const MAX_QUEUED: usize = 4096;

pub(super) type Created = (Post, String, Vec<String>);

struct Waiter {
    post: NewPost,
    done: oneshot::Sender<StoreResult<Created>>,
}

/// The channels with posts in flight, and what waits for each.
#[derive(Default)]
pub(super) struct PostBatches {
    channels: Mutex<HashMap<String, VecDeque<Waiter>>>,
    /// Transactions of several posts, and the posts they carried.
    together: AtomicU64,
    posts_together: AtomicU64,
}

/// A channel's queue holds [`MAX_QUEUED`] posts already.
struct QueueFull;

/// How much group commit happened on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Transactions that carried several posts.
    pub transactions: u64,
    /// The posts those carried.
    pub posts: u64,
}

impl PostBatches {
    /// Queue `post`: Ok(true) when no batch runs for its channel, so the caller starts one;
    /// Err when the channel's queue is full.
    fn enqueue(&self, post: NewPost, done: oneshot::Sender<StoreResult<Created>>) -> Result<bool, QueueFull> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        let waiter = Waiter { post, done };
        match channels.get_mut(&waiter.post.channel_id) {
            Some(q) if q.len() >= MAX_QUEUED => Err(QueueFull),
            Some(q) => {
                q.push_back(waiter);
                Ok(false)
            }
            None => {
                let channel = waiter.post.channel_id.clone();
                channels.insert(channel, VecDeque::from([waiter]));
                Ok(true)
            }
        }
    }

    /// The next batch of `channel`, or None (and the channel is forgotten) when nothing waits.
    fn next_batch(&self, channel: &str) -> Option<Vec<Waiter>> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        let q = channels.get_mut(channel)?;
        if q.is_empty() {
            channels.remove(channel);
            return None;
        }
        let n = q.len().min(MAX_BATCH);
        Some(q.drain(..n).collect())
    }
}

impl Store {
    /// Group commits so far (for metrics and tests).
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            transactions: self.post_batches.together.load(Ordering::Relaxed),
            posts: self.post_batches.posts_together.load(Ordering::Relaxed),
        }
    }

    /// Create a post (see the module's note): Ok once it is committed.
    pub async fn create_post(&self, p: NewPost) -> StoreResult<Created> {
        let (done, result) = oneshot::channel();
        let channel = p.channel_id.clone();
        match self.post_batches.enqueue(p, done) {
            Ok(true) => {
                let store = self.clone();
                actix_web::rt::spawn(async move { store.run_batches(&channel).await });
            }
            Ok(false) => {}
            Err(QueueFull) => return Err(StoreError::Unavailable("too many posts waiting for this channel".into())),
        }
        result.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the post's batch was lost".into())))
    }

    /// Commit `channel`'s waiting posts, batch after batch, until none wait.
    async fn run_batches(&self, channel: &str) {
        while let Some(batch) = self.post_batches.next_batch(channel) {
            let (posts, senders): (Vec<NewPost>, Vec<_>) = batch.into_iter().map(|w| (w.post, w.done)).unzip();
            let results = match posts.len() {
                1 => vec![self.create_one_post(posts.into_iter().next().expect("one post")).await],
                _ => self.create_posts_together(posts).await,
            };
            for (done, result) in senders.into_iter().zip(results) {
                // A caller that went away does not get its answer; its post stands.
                let _ = done.send(result);
            }
        }
    }

    /// Several posts of one channel in one transaction: all statements pipelined on one
    /// connection; if any fails, the transaction is rolled back and the posts go again one
    /// savepoint each, so that only the failing one fails.
    async fn create_posts_together(&self, posts: Vec<NewPost>) -> Vec<StoreResult<Created>> {
        let n = posts.len();
        let pipelined: StoreResult<Option<Vec<Created>>> = async {
            let mut c = self.master.get().await?;
            let tx = c.transaction().await?;
            let stmt = tx.prepare_cached(super::posts::CREATE_POST).await?;
            let rows =
                futures_util::future::join_all(posts.iter().map(|p| super::posts::insert_row(&tx, &stmt, p))).await;
            let Ok(mut created) = rows.into_iter().collect::<StoreResult<Vec<Created>>>() else {
                tx.rollback().await?;
                return Ok(None);
            };
            let counted = futures_util::future::join_all(
                created.iter_mut().map(|(post, _, _)| super::posts::count_replies(&tx, post)),
            )
            .await;
            counted.into_iter().collect::<StoreResult<Vec<()>>>()?;
            tx.commit().await?;
            Ok(Some(created))
        }
        .await;
        let outcome: StoreResult<Vec<StoreResult<Created>>> = match pipelined {
            Ok(Some(created)) => Ok(created.into_iter().map(Ok).collect()),
            Ok(None) => self.one_savepoint_each(&posts).await,
            Err(e) => Err(e),
        };
        if outcome.is_ok() {
            self.post_batches.together.fetch_add(1, Ordering::Relaxed);
            self.post_batches.posts_together.fetch_add(n as u64, Ordering::Relaxed);
        }
        match outcome {
            Ok(created) => {
                // The committed posts' metadata in one read.
                let mut posts: Vec<Post> =
                    created.iter().filter_map(|r| r.as_ref().ok().map(|c| c.0.clone())).collect();
                let filled = self.fill_metadata(&mut posts).await;
                let mut filled_posts = posts.into_iter();
                created
                    .into_iter()
                    .map(|r| match (r, &filled) {
                        (Ok((_, sender, mentioned)), Ok(())) => {
                            Ok((filled_posts.next().expect("one filled post per created one"), sender, mentioned))
                        }
                        (Ok(_), Err(e)) => Err(StoreError::Unavailable(format!("reading the new post back: {e}"))),
                        (Err(e), _) => Err(e),
                    })
                    .collect()
            }
            // Nothing of the batch is committed (or it is unknown, as for a lone post whose
            // connection breaks at its commit): every post of it fails.
            Err(e) => {
                let said = e.to_string();
                std::iter::once(Err(e)).chain((1..n).map(|_| Err(StoreError::Unavailable(said.clone())))).collect()
            }
        }
    }

    /// The posts in one transaction, a savepoint each: one that fails is rolled back alone.
    async fn one_savepoint_each(&self, posts: &[NewPost]) -> StoreResult<Vec<StoreResult<Created>>> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let mut created = Vec::with_capacity(posts.len());
        for p in posts {
            tx.batch_execute("SAVEPOINT post").await?;
            match super::posts::insert_post(&tx, p).await {
                Ok(post) => {
                    tx.batch_execute("RELEASE SAVEPOINT post").await?;
                    created.push(Ok(post));
                }
                Err(e) => {
                    tx.batch_execute("ROLLBACK TO SAVEPOINT post").await?;
                    created.push(Err(e));
                }
            }
        }
        tx.commit().await?;
        Ok(created)
    }
}
