// Unread and mention counts. Mattermost's rule (calculateUnreadCount): unread messages are the
// channel's total_msg_count minus what the member has seen; mentions are the member's
// mention_count. Until the server keeps a member's read state (POST /channels/members/me/view),
// what this user has seen is kept in this browser's localStorage, per user, and live `posted`
// events add to the counts of channels that are not on screen.
import type { ServerChannel as Channel } from '@mattermost/types/channels';
import type { Post } from '@mattermost/types/posts';
import { getState, update } from '../store';

interface Seen {
  /** total_msg_count when the user last looked */
  n: number;
  /** mentions since then */
  m: number;
}

function key(): string {
  return `starling.seen.${getState().me?.id ?? ''}`;
}

function loadSeen(): Record<string, Seen> {
  try {
    return JSON.parse(localStorage.getItem(key()) ?? '{}') as Record<string, Seen>;
  } catch {
    return {};
  }
}

function saveSeen(seen: Record<string, Seen>): void {
  try {
    localStorage.setItem(key(), JSON.stringify(seen));
  } catch {
    // storage full or disabled: counts still work for this page's life
  }
}

/** Counts for channels just loaded from the server. */
export function computeUnreads(channels: Channel[]): void {
  const seen = loadSeen();
  update((s) => {
    const unread = { ...s.unread };
    for (const c of channels) {
      const entry = seen[c.id];
      const msgs = Math.max(0, c.total_msg_count - (entry?.n ?? 0));
      unread[c.id] = { msgs, mentions: entry ? entry.m : c.type === 'D' ? msgs : 0 };
    }
    return { unread };
  });
}

/** The user is looking at the channel: nothing in it is unread. */
export function markViewed(channelId: string): void {
  const c = getState().channels[channelId];
  if (!c) return;
  const seen = loadSeen();
  seen[channelId] = { n: c.total_msg_count, m: 0 };
  saveSeen(seen);
  update((s) => ({ unread: { ...s.unread, [channelId]: { msgs: 0, mentions: 0 } } }));
}

/** Whether the post mentions the user: @username, @channel/@all/@here, or any post in a DM. */
export function mentionsMe(post: Post, channel: Channel | undefined, username: string): boolean {
  if (channel?.type === 'D') return true;
  const re = new RegExp(`(^|[^\\w.-])@(${escape(username)}|channel|all|here)(?![\\w-])`, 'i');
  return re.test(post.message);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A new post arrived live: count it unless the user is looking at its channel. */
export function countNewPost(post: Post, onScreen: boolean): boolean {
  const s = getState();
  const channel = s.channels[post.channel_id];
  const me = s.me;
  if (!channel || !me) return false;
  const mention = post.user_id !== me.id && mentionsMe(post, channel, me.username);
  update((st) => ({
    channels: { ...st.channels, [channel.id]: { ...channel, total_msg_count: channel.total_msg_count + 1, last_post_at: post.create_at } },
  }));
  if (onScreen || post.user_id === me.id) {
    markViewed(channel.id);
    return mention;
  }
  const seen = loadSeen();
  const entry = seen[channel.id] ?? { n: 0, m: 0 };
  if (mention) entry.m += 1;
  seen[channel.id] = entry;
  saveSeen(seen);
  update((st) => {
    const prev = st.unread[channel.id] ?? { msgs: 0, mentions: 0 };
    return { unread: { ...st.unread, [channel.id]: { msgs: prev.msgs + 1, mentions: prev.mentions + (mention ? 1 : 0) } } };
  });
  return mention;
}
