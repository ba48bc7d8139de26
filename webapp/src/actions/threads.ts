import type { UserThreadWithPost } from '@mattermost/types/threads';
import { client } from '../client';
import { getState, update } from '../store';
import { receivePosts } from './posts';
import { ensureUsers } from './users';

/** The threads the user follows in a team (collapsed reply threads), newest reply first; their
 * root posts go to the store, and the team's unread counts are kept for the sidebar. */
export async function loadThreads(teamId: string): Promise<UserThreadWithPost[]> {
  const me = getState().me;
  if (!me) return [];
  const list = await client.getUserThreads(me.id, teamId, { perPage: 25, extended: false, threadsOnly: false, totalsOnly: false });
  const threads = list.threads ?? [];
  receivePosts(threads.map((t) => t.post));
  void ensureUsers(threads.flatMap((t) => t.participants.map((p) => p.id)));
  setCounts(teamId, list.total_unread_threads, list.total_unread_mentions);
  return threads;
}

function setCounts(teamId: string, threads: number, mentions: number): void {
  update((s) => ({ threadCounts: { ...s.threadCounts, [teamId]: { threads, mentions } } }));
}

const refreshing = new Map<string, ReturnType<typeof setTimeout>>();

/** Fetch a team's unread thread counts again, soon: a burst of thread events makes one request. */
export function refreshThreadCounts(teamId: string): void {
  const me = getState().me;
  if (!me || !teamId || refreshing.has(teamId)) return;
  refreshing.set(
    teamId,
    setTimeout(() => {
      refreshing.delete(teamId);
      client.getUserThreads(me.id, teamId, { totalsOnly: true, threadsOnly: false }).then(
        (l) => setCounts(teamId, l.total_unread_threads, l.total_unread_mentions),
        () => undefined,
      );
    }, 300),
  );
}

/** Mark a followed thread read now (as opening it in Threads does). */
export async function markThreadRead(teamId: string, threadId: string): Promise<void> {
  const me = getState().me;
  if (!me) return;
  await client.updateThreadReadForUser(me.id, teamId, threadId, Date.now());
  refreshThreadCounts(teamId);
}
