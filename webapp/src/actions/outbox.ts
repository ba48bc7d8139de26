// Posts waiting to be sent. They go one at a time, in the order written, only while the
// websocket is connected (so that the echo arrives and the user sees where they stand). A send
// that gets no answer, or a 502/503/504 from the load balancer, stays queued and is sent again
// with the same pending_post_id when the connection is back; the server echoes that id, so the
// post replaces its pending copy and appears once.
import { client } from '../client';
import { getState, update, type PendingPost } from '../store';
import { errorText, isRetryable } from './errors';
import { loadSince, receivePosts } from './posts';

/** Pause before sending again after a failure the balancer may fix by itself. */
const RETRY_MS = 1000;

let flushing = false;

function setPending(id: string, change: Partial<PendingPost>): void {
  update((s) => ({ pending: s.pending.map((p) => (p.pendingPostId === id ? { ...p, ...change } : p)) }));
}

export async function flushOutbox(): Promise<void> {
  if (flushing) return;
  flushing = true;
  try {
    for (;;) {
      const s = getState();
      if (s.connection !== 'connected') return;
      const next = s.pending.find((p) => p.state === 'queued');
      if (!next) return;
      if (next.uncertain) {
        // The channel's posts since then carry pending_post_id; one that matches replaces this copy.
        try {
          await loadSince(next.channelId);
        } catch {
          setTimeout(() => void flushOutbox(), RETRY_MS);
          return;
        }
        if (!getState().pending.some((p) => p.pendingPostId === next.pendingPostId)) continue;
      }
      setPending(next.pendingPostId, { state: 'sending' });
      try {
        const post = await client.createPost({
          channel_id: next.channelId,
          root_id: next.rootId,
          message: next.message,
          file_ids: next.fileIds,
          pending_post_id: next.pendingPostId,
          create_at: 0,
        } as never);
        receivePosts([post]);
      } catch (e) {
        if (isRetryable(e)) {
          setPending(next.pendingPostId, { state: 'queued', uncertain: true });
          // Sent again on the websocket's reconnect, or after a pause if it stays up.
          setTimeout(() => void flushOutbox(), RETRY_MS);
          return;
        }
        setPending(next.pendingPostId, { state: 'failed', error: errorText(e) });
      }
    }
  } finally {
    flushing = false;
  }
}
