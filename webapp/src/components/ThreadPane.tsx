import { useEffect } from 'preact/hooks';
import { update, useStore } from '../store';
import { loadThread } from '../actions/posts';
import { errorText, toast } from '../actions/errors';
import { PostItem } from './PostItem';
import { PostBox } from './PostBox';
import { pendingAsPost } from './PostList';

/** A thread beside the channel: the root post, its replies, and a reply box. */
export function ThreadPane(props: { rootId: string; teamId: string }) {
  const root = useStore((s) => s.posts[props.rootId]);
  const replyIds = useStore((s) => s.threads[props.rootId]);
  const posts = useStore((s) => s.posts);
  const pending = useStore((s) => s.pending);
  const meId = useStore((s) => s.me?.id ?? '');
  useEffect(() => {
    loadThread(props.rootId).catch((e) => toast(errorText(e)));
  }, [props.rootId]);
  const close = () => update(() => ({ openThreadId: '' }));
  const replies = (replyIds ?? []).map((id) => posts[id]).filter((p) => p && !p.delete_at);
  return (
    <aside class="thread-pane" aria-label="Thread" onKeyDown={(e) => e.key === 'Escape' && close()} data-testid="thread-pane">
      <header class="thread-pane__header">
        <h2>Thread</h2>
        <button type="button" class="btn btn--link" aria-label="Close thread" onClick={close}>
          ×
        </button>
      </header>
      <div class="thread-pane__posts">
        {root ? <PostItem post={root} inThread /> : <p>Loading…</p>}
        {replies.length ? <p class="hint thread-pane__count">{replies.length} {replies.length === 1 ? 'reply' : 'replies'}</p> : null}
        {replies.map((p) => (
          <PostItem key={p.id} post={p} inThread />
        ))}
        {pending
          .filter((p) => p.rootId === props.rootId)
          .map((p) => (
            <PostItem key={p.pendingPostId} post={pendingAsPost(p, meId)} inThread pendingState={p.state} />
          ))}
      </div>
      {root ? <PostBox channelId={root.channel_id} rootId={props.rootId} teamId={props.teamId} placeholder="Reply…" /> : null}
    </aside>
  );
}
