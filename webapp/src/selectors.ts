// Derived views of the state, kept out of components so the rules live in one place.
import type { ServerChannel as Channel } from '@mattermost/types/channels';
import type { Post } from '@mattermost/types/posts';
import type { State } from './store';
import { dmTeammateId } from './actions/channels';

export interface SidebarCategory {
  id: string;
  name: string;
  channels: Channel[];
}

/** Mattermost's default categories (Channels, Direct Messages), in its default sorts: channels
 * alphabetically, DMs by most recent post. Favorites and custom categories come with the
 * server's sidebar-categories API. */
export function sidebarCategories(s: State, teamId: string): SidebarCategory[] {
  const mine = s.myChannelIds.map((id) => s.channels[id]).filter((c): c is Channel => !!c && !c.delete_at);
  const channels = mine
    .filter((c) => c.team_id === teamId && (c.type === 'O' || c.type === 'P'))
    .sort((a, b) => a.display_name.localeCompare(b.display_name));
  const dms = mine.filter((c) => c.type === 'D' || c.type === 'G').sort((a, b) => b.last_post_at - a.last_post_at);
  return [
    { id: 'channels', name: 'Channels', channels },
    { id: 'direct_messages', name: 'Direct Messages', channels: dms },
  ];
}

export function channelDisplayName(s: State, c: Channel | undefined): string {
  if (!c) return '';
  if (c.type === 'D' && s.me) {
    const other = s.users[dmTeammateId(c, s.me.id)];
    return other ? other.username : c.display_name || 'Direct message';
  }
  if (c.type === 'G' && s.me) {
    // The server's name lists every member; the app shows the others, as Mattermost's does.
    const me = s.me.username;
    return c.display_name.split(', ').filter((n) => n !== me).join(', ') || c.display_name;
  }
  return c.display_name || c.name;
}

/** The path that opens a channel in a team, as Mattermost's web app spells it. */
export function channelUrl(s: State, teamName: string, c: Channel): string {
  if (c.type === 'D' && s.me) {
    const other = s.users[dmTeammateId(c, s.me.id)];
    if (other) return `/${encodeURIComponent(teamName)}/messages/@${encodeURIComponent(other.username)}`;
  }
  if (c.type === 'G') return `/${encodeURIComponent(teamName)}/messages/${encodeURIComponent(c.name)}`;
  return `/${encodeURIComponent(teamName)}/channels/${encodeURIComponent(c.name)}`;
}

/** Unread counts of every team other than `teamId`, for the team switcher's badges. */
export function teamUnread(s: State, teamId: string): { msgs: number; mentions: number } {
  let msgs = 0;
  let mentions = 0;
  for (const id of s.myChannelIds) {
    const c = s.channels[id];
    if (!c || c.team_id !== teamId) continue;
    const u = s.unread[id];
    if (u) {
      msgs += u.msgs;
      mentions += u.mentions;
    }
  }
  return { msgs, mentions };
}

/** A channel's root posts, oldest first (the order they are shown in). */
export function channelPostsOldestFirst(s: State, channelId: string): Post[] {
  const ch = s.postsInChannel[channelId];
  if (!ch) return [];
  const out: Post[] = [];
  for (let i = ch.order.length - 1; i >= 0; i--) {
    const p = s.posts[ch.order[i]];
    if (p && !p.delete_at) out.push(p);
  }
  return out;
}

/** Whether two consecutive posts are by the same user within 5 minutes (shown without a new header). */
export function isContinuation(prev: Post | undefined, p: Post): boolean {
  return !!prev && prev.user_id === p.user_id && p.create_at - prev.create_at < 5 * 60_000 && !p.root_id === !prev.root_id;
}

export function typingNames(s: State, key: string): string[] {
  const entry = s.typing[key];
  if (!entry) return [];
  const now = Date.now();
  return Object.entries(entry)
    .filter(([, until]) => until > now)
    .map(([id]) => s.users[id]?.username ?? 'Someone');
}
