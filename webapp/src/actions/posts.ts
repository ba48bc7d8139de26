// Posts: loading a channel's history page by page, live posts, edits and deletes, threads, and
// sending. A post is shown at once as pending (keyed by its pending_post_id, as Mattermost's web
// app does); the server echoes pending_post_id back in the answer and in `posted`, which replaces
// the pending copy, so a post is on screen once however it arrives. While the websocket is down,
// new posts wait in the outbox and are sent in order when it is back (see outbox.ts).
import type { Post, PostList } from '@mattermost/types/posts';
import type { FileInfo } from '@mattermost/types/files';
import { client, pendingPostId } from '../client';
import { getState, update, type ChannelPosts, type PendingPost } from '../store';
import { ensureUsers } from './users';
import { flushOutbox } from './outbox';
import { errorText } from './errors';

export const PAGE_SIZE = 30;

function emptyChannel(): ChannelPosts {
  return { order: [], atOldest: false, loadingOlder: false, loaded: false };
}

function byNewest(posts: Record<string, Post>) {
  return (a: string, b: string) => (posts[b]?.create_at ?? 0) - (posts[a]?.create_at ?? 0) || (a < b ? 1 : -1);
}

/** Merge posts into the store; roots go into their channel's list, replies into their thread. */
export function receivePosts(list: Post[], opts: { channelId?: string; atOldest?: boolean; loaded?: boolean } = {}): void {
  update((s) => {
    const posts = { ...s.posts };
    const files = { ...s.files };
    const postsInChannel = { ...s.postsInChannel };
    const threads = { ...s.threads };
    const pendingIds = new Set(list.map((p) => p.pending_post_id).filter(Boolean));
    for (const p of list) {
      const old = posts[p.id];
      if (old && old.update_at > p.update_at) continue;
      posts[p.id] = p;
      for (const f of (p.metadata?.files ?? []) as FileInfo[]) files[f.id] = f;
      if (p.delete_at) continue;
      const ch = { ...(postsInChannel[p.channel_id] ?? emptyChannel()) };
      if (!ch.order.includes(p.id)) ch.order = [...ch.order, p.id];
      postsInChannel[p.channel_id] = ch;
      if (p.root_id) {
        const t = threads[p.root_id] ?? [];
        if (!t.includes(p.id)) threads[p.root_id] = [...t, p.id].sort((a, b) => (posts[a]?.create_at ?? 0) - (posts[b]?.create_at ?? 0));
      }
    }
    const sort = byNewest(posts);
    for (const id of new Set(list.map((p) => p.channel_id))) {
      postsInChannel[id] = { ...postsInChannel[id], order: [...postsInChannel[id].order].sort(sort) };
    }
    if (opts.channelId) {
      const ch = postsInChannel[opts.channelId] ?? emptyChannel();
      postsInChannel[opts.channelId] = {
        ...ch,
        atOldest: opts.atOldest ?? ch.atOldest,
        loaded: opts.loaded ?? ch.loaded,
        loadingOlder: false,
      };
    }
    const pending = pendingIds.size ? s.pending.filter((q) => !pendingIds.has(q.pendingPostId)) : s.pending;
    return { posts, files, postsInChannel, threads, pending };
  });
  void ensureUsers(list.map((p) => p.user_id));
}

function listToPosts(list: PostList): Post[] {
  return list.order.map((id) => list.posts[id]).filter(Boolean);
}

const firstPageLoads = new Map<string, Promise<void>>();

/** The newest page of a channel, and every post since, when it was loaded before. Callers that
 * ask while the first page is on its way share that request. */
export async function loadChannelPosts(channelId: string): Promise<void> {
  const ch = getState().postsInChannel[channelId];
  if (ch?.loaded) {
    await loadSince(channelId);
    return;
  }
  let p = firstPageLoads.get(channelId);
  if (!p) {
    p = client.getPosts(channelId, 0, PAGE_SIZE).then((list) => {
      receivePosts(listToPosts(list), { channelId, loaded: true, atOldest: list.order.length < PAGE_SIZE });
    });
    firstPageLoads.set(channelId, p);
    void p.finally(() => firstPageLoads.delete(channelId)).catch(() => undefined);
  }
  await p;
}

/** Everything created or changed since the newest post we hold (after a reconnect). */
export async function loadSince(channelId: string): Promise<void> {
  const s = getState();
  const ch = s.postsInChannel[channelId];
  if (!ch?.loaded) return loadChannelPosts(channelId);
  let since = 0;
  for (const id of ch.order) since = Math.max(since, s.posts[id]?.update_at ?? 0, s.posts[id]?.create_at ?? 0);
  if (since === 0) since = Date.now() - 60_000;
  const list = await client.getPostsSince(channelId, since - 1);
  receivePosts(listToPosts(list), { channelId });
}

/** The page before the oldest loaded post (infinite scroll up). */
export async function loadOlder(channelId: string): Promise<void> {
  const s = getState();
  const ch = s.postsInChannel[channelId];
  if (!ch || ch.atOldest || ch.loadingOlder) return;
  const oldest = [...ch.order].reverse().find((id) => !s.posts[id]?.root_id) ?? ch.order[ch.order.length - 1];
  if (!oldest) return;
  update((st) => ({ postsInChannel: { ...st.postsInChannel, [channelId]: { ...st.postsInChannel[channelId], loadingOlder: true } } }));
  try {
    const list = await client.getPostsBefore(channelId, oldest, 0, PAGE_SIZE);
    receivePosts(listToPosts(list), { channelId, atOldest: list.order.length < PAGE_SIZE });
  } catch (e) {
    update((st) => ({ postsInChannel: { ...st.postsInChannel, [channelId]: { ...st.postsInChannel[channelId], loadingOlder: false } } }));
    throw e;
  }
}

export async function loadThread(rootId: string): Promise<void> {
  const list = await client.getPostThread(rootId);
  receivePosts(listToPosts(list));
}

/** Show a post at once and send it (now, or when the connection is back). */
export function sendPost(channelId: string, rootId: string, message: string, fileIds: string[] = []): void {
  const me = getState().me;
  if (!me) return;
  const p: PendingPost = {
    pendingPostId: pendingPostId(me.id),
    channelId,
    rootId,
    message,
    fileIds,
    createAt: Date.now(),
    state: 'queued',
  };
  update((s) => ({ pending: [...s.pending, p] }));
  void flushOutbox();
}

export async function editPost(postId: string, message: string): Promise<void> {
  const post = await client.patchPost({ id: postId, message });
  receivePosts([post]);
}

export async function deletePost(postId: string): Promise<void> {
  await client.deletePost(postId);
  removePost(postId);
}

export function removePost(postId: string): void {
  update((s) => {
    const post = s.posts[postId];
    if (!post) return {};
    const ch = s.postsInChannel[post.channel_id];
    const postsInChannel = ch
      ? { ...s.postsInChannel, [post.channel_id]: { ...ch, order: ch.order.filter((id) => id !== postId && s.posts[id]?.root_id !== postId) } }
      : s.postsInChannel;
    const threads = { ...s.threads };
    if (post.root_id && threads[post.root_id]) threads[post.root_id] = threads[post.root_id].filter((id) => id !== postId);
    delete threads[postId];
    const posts = { ...s.posts, [postId]: { ...post, delete_at: Date.now() } };
    return { posts, postsInChannel, threads, openThreadId: s.openThreadId === postId ? '' : s.openThreadId };
  });
}

export function retryPending(pendingPostId: string): void {
  update((s) => ({ pending: s.pending.map((p) => (p.pendingPostId === pendingPostId ? { ...p, state: 'queued', error: undefined } : p)) }));
  void flushOutbox();
}

export function discardPending(pendingPostId: string): void {
  update((s) => ({ pending: s.pending.filter((p) => p.pendingPostId !== pendingPostId) }));
}

export async function searchPosts(teamId: string, terms: string): Promise<Post[]> {
  const list = await client.searchPostsWithParams(teamId, { terms, is_or_search: false, page: 0, per_page: 40 } as never);
  const posts = listToPosts(list);
  void ensureUsers(posts.map((p) => p.user_id));
  return posts;
}

/** A channel's pinned posts, newest first. */
export async function pinnedPosts(channelId: string): Promise<Post[]> {
  const posts = listToPosts(await client.getPinnedPosts(channelId)).sort((a, b) => b.create_at - a.create_at);
  void ensureUsers(posts.map((p) => p.user_id));
  return posts;
}

/** The posts I saved, in every team and channel I am in. */
export async function savedPosts(): Promise<Post[]> {
  const me = getState().me;
  if (!me) return [];
  const posts = listToPosts(await client.getFlaggedPosts(me.id, '', '', 0, 60));
  void ensureUsers(posts.map((p) => p.user_id));
  return posts;
}

export { errorText };
