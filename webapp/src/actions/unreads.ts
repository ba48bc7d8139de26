// Unread and mention counts, as the server keeps them (Mattermost's calculateUnreadCount): a
// channel's unread messages are its total_msg_count minus the member's msg_count, its mentions the
// member's mention_count. Looking at a channel tells the server (POST /channels/members/me/view), so
// the counts follow the user to every browser and device. Live, a `posted` event counts a post in
// a channel not on screen (a mention when the event's `mentions` list holds this user, which the
// server fills for every member whose mention count the post raised), and
// `multiple_channels_viewed` from the user's other sessions clears channels.
import type { ServerChannel as Channel, ChannelMembership } from '@mattermost/types/channels';
import type { Post } from '@mattermost/types/posts';
import { client } from '../client';
import { getState, update } from '../store';

/** Counts for channels from the user's memberships in them. */
export function applyMembers(channels: Channel[], members: ChannelMembership[]): void {
  const byId = new Map(members.map((m) => [m.channel_id, m]));
  const s = getState();
  update((st) => {
    const unread = { ...st.unread };
    for (const c of channels) {
      const m = byId.get(c.id);
      if (!m) continue;
      if (c.id === s.currentChannelId && document.visibilityState === 'visible') {
        unread[c.id] = { msgs: 0, mentions: 0 };
      } else {
        unread[c.id] = { msgs: Math.max(0, c.total_msg_count - m.msg_count), mentions: m.mention_count };
      }
    }
    return { unread };
  });
}

/** Counts for a team's channels, from the server. */
export async function loadUnreads(teamId: string, channels: Channel[]): Promise<void> {
  applyMembers(channels, await client.getMyChannelMembers(teamId));
}

/** Counts for one channel (a DM just opened, a channel just joined). */
export async function loadUnread(channel: Channel): Promise<void> {
  applyMembers([channel], [await client.getMyChannelMember(channel.id)]);
}

// Views the server has not been told of yet: at most one request per channel in flight, and
// posts arriving in the channel on screen while one is out are covered by one more afterwards.
const viewing = new Map<string, boolean>();

function tellServer(channelId: string): void {
  if (viewing.has(channelId)) {
    viewing.set(channelId, true);
    return;
  }
  viewing.set(channelId, false);
  void client
    .viewMyChannel(channelId)
    .catch(() => undefined)
    .finally(() => {
      const again = viewing.get(channelId);
      viewing.delete(channelId);
      if (again) tellServer(channelId);
    });
}

/** The user is looking at the channel: nothing in it is unread, here and on the server. */
export function markViewed(channelId: string): void {
  if (!getState().myChannelIds.includes(channelId)) return;
  tellServer(channelId);
  clearUnread(channelId);
}

/** The channel was read elsewhere (another session of this user). */
export function clearUnread(channelId: string): void {
  const u = getState().unread[channelId];
  if (u && u.msgs === 0 && u.mentions === 0) return;
  update((s) => ({ unread: { ...s.unread, [channelId]: { msgs: 0, mentions: 0 } } }));
}

/** The ids in a `posted` event's `mentions` (a JSON string of an array). */
function mentionedIds(raw: unknown): string[] {
  if (typeof raw !== 'string') return Array.isArray(raw) ? raw.map(String) : [];
  try {
    const ids = JSON.parse(raw) as unknown;
    return Array.isArray(ids) ? ids.map(String) : [];
  } catch {
    return [];
  }
}

/** A new post arrived live: count it unless the user is looking at its channel. Returns
 *  whether it mentions the user. */
export function countNewPost(post: Post, mentions: unknown, onScreen: boolean): boolean {
  const s = getState();
  const channel = s.channels[post.channel_id];
  const me = s.me;
  if (!channel || !me) return false;
  const mention = post.user_id !== me.id && mentionedIds(mentions).includes(me.id);
  update((st) => ({
    channels: { ...st.channels, [channel.id]: { ...channel, total_msg_count: channel.total_msg_count + 1, last_post_at: post.create_at } },
  }));
  if (post.user_id === me.id) {
    // the server counts the author's own post as read
    clearUnread(channel.id);
    return false;
  }
  if (onScreen) {
    markViewed(channel.id);
    return mention;
  }
  update((st) => {
    const prev = st.unread[channel.id] ?? { msgs: 0, mentions: 0 };
    return { unread: { ...st.unread, [channel.id]: { msgs: prev.msgs + 1, mentions: prev.mentions + (mention ? 1 : 0) } } };
  });
  return mention;
}

// Coming back to the tab reads the channel on screen, as Mattermost's web app does on focus.
if (typeof document !== 'undefined') {
  document.addEventListener('visibilitychange', () => {
    const id = getState().currentChannelId;
    if (document.visibilityState === 'visible' && id) markViewed(id);
  });
}
