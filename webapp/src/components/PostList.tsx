import type { Post } from '@mattermost/types/posts';
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import { getState, useStore, type PendingPost } from '../store';
import { channelPostsOldestFirst, isContinuation } from '../selectors';
import { discardPending, loadChannelPosts, loadOlder, retryPending } from '../actions/posts';
import { errorText, toast } from '../actions/errors';
import { PostItem } from './PostItem';

/** How close to the top (px) scrolling must come before older posts are fetched. */
const LOAD_OLDER_MARGIN = 300;

export function pendingAsPost(p: PendingPost, userId: string): Post {
  return {
    id: p.pendingPostId,
    pending_post_id: p.pendingPostId,
    create_at: p.createAt,
    update_at: p.createAt,
    edit_at: 0,
    delete_at: 0,
    user_id: userId,
    channel_id: p.channelId,
    root_id: p.rootId,
    message: p.message,
    file_ids: p.fileIds,
    type: '',
    props: {},
    hashtags: '',
    is_pinned: false,
    reply_count: 0,
    original_id: '',
    metadata: {},
  } as unknown as Post;
}

/** The channel's messages, oldest at the top; scrolling up loads older ones. */
export function PostList(props: { channelId: string }) {
  const posts = useStore((s) => s.postsInChannel[props.channelId]);
  const all = useStore((s) => s.posts);
  const pending = useStore((s) => s.pending);
  const meId = useStore((s) => s.me?.id ?? '');
  const state = useStore((s) => s);
  const list = channelPostsOldestFirst(state, props.channelId);
  const mine = pending.filter((p) => p.channelId === props.channelId);
  const ref = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const prevHeight = useRef(0);
  const prevFirst = useRef<string | undefined>(undefined);

  // Keep the view where the reader is: at the bottom for new posts, still for older ones.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const first = list[0]?.id;
    if (prevFirst.current && first !== prevFirst.current && !atBottom.current) {
      el.scrollTop += el.scrollHeight - prevHeight.current;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
    prevFirst.current = first;
    prevHeight.current = el.scrollHeight;
  });

  useEffect(() => {
    atBottom.current = true;
    prevFirst.current = undefined;
    if (!getState().postsInChannel[props.channelId]?.loaded) loadChannelPosts(props.channelId).catch((e) => toast(errorText(e)));
  }, [props.channelId]);

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    prevHeight.current = el.scrollHeight;
    if (el.scrollTop < LOAD_OLDER_MARGIN && posts && !posts.atOldest && !posts.loadingOlder) {
      atBottom.current = false;
      loadOlder(props.channelId).catch((e) => toast(errorText(e)));
    }
  };

  // A short channel may not fill the screen: keep loading until it scrolls or history ends.
  useEffect(() => {
    const el = ref.current;
    if (el && posts?.loaded && !posts.atOldest && !posts.loadingOlder && el.scrollHeight <= el.clientHeight + LOAD_OLDER_MARGIN) {
      loadOlder(props.channelId).catch(() => undefined);
    }
  });

  return (
    <div class="post-list" ref={ref} onScroll={onScroll} role="log" aria-label="Messages" aria-live="polite" tabIndex={0} data-testid="post-list">
      {posts?.atOldest ? <p class="post-list__start">This is the start of the channel.</p> : null}
      {posts?.loadingOlder ? <p class="post-list__loading">Loading older messages…</p> : null}
      {!posts?.loaded ? <p class="post-list__loading">Loading…</p> : null}
      {list.map((p, i) => (
        <PostItem key={p.id} post={all[p.id] ?? p} continuation={isContinuation(list[i - 1], p)} />
      ))}
      {mine.map((p) => (
        <PostItem
          key={p.pendingPostId}
          post={pendingAsPost(p, meId)}
          pendingState={p.state}
          onRetry={() => retryPending(p.pendingPostId)}
          onDiscard={() => discardPending(p.pendingPostId)}
        />
      ))}
    </div>
  );
}
