import type { ServerChannel as Channel } from '@mattermost/types/channels';
import type { UserProfile } from '@mattermost/types/users';
import { client } from '../client';
import { getState, update } from '../store';
import { channelPath, navigate } from '../router';
import { loadUnread, loadUnreads, markViewed } from './unreads';
import { ensureUsers } from './users';
import { loadChannelPosts } from './posts';
import { errorText } from './errors';

export const DEFAULT_CHANNEL = 'town-square';

export function receiveChannels(channels: Channel[], mine: boolean): void {
  update((s) => {
    const next = { ...s.channels };
    for (const c of channels) next[c.id] = c;
    const myChannelIds = mine ? [...new Set([...s.myChannelIds, ...channels.map((c) => c.id)])] : s.myChannelIds;
    return { channels: next, myChannelIds };
  });
}

/** The other user of a DM, from its name "<idA>__<idB>". */
export function dmTeammateId(channel: Channel, myId: string): string {
  const [a, b] = channel.name.split('__');
  return a === myId ? b : a;
}

const myChannelsLoaded = new Map<string, Promise<Channel[]>>();

/** The team's channels, loaded once (later calls wait for the first load). */
export function ensureMyChannels(teamId: string): Promise<Channel[]> {
  let p = myChannelsLoaded.get(teamId);
  if (!p) {
    p = loadMyChannels(teamId);
    myChannelsLoaded.set(teamId, p);
    p.catch(() => myChannelsLoaded.delete(teamId));
  }
  return p;
}

export async function loadMyChannels(teamId: string): Promise<Channel[]> {
  const channels = (await client.getMyChannels(teamId)).filter((c) => !c.delete_at);
  receiveChannels(channels, true);
  await loadUnreads(teamId, channels).catch(() => undefined);
  const me = getState().me;
  if (me) void ensureUsers(channels.filter((c) => c.type === 'D').map((c) => dmTeammateId(c, me.id)));
  return channels;
}

export function forgetChannel(channelId: string): void {
  update((s) => ({ myChannelIds: s.myChannelIds.filter((id) => id !== channelId) }));
}

/** Make a channel the one on screen: load its posts, mark it read. */
export async function openChannel(teamId: string, channelName: string): Promise<void> {
  await ensureMyChannels(teamId).catch(() => undefined);
  const s = getState();
  let channel = s.myChannelIds
    .map((id) => s.channels[id])
    .find((c) => c && c.name === channelName && (c.team_id === teamId || c.team_id === ''));
  if (!channel) {
    try {
      channel = await client.getChannelByName(teamId, channelName);
      receiveChannels([channel], false);
    } catch (e) {
      update(() => ({ pageError: `Channel "${channelName}" was not found: ${errorText(e)}` }));
      return;
    }
  }
  const id = channel.id;
  update(() => ({ currentChannelId: id, pageError: '' }));
  if (!getState().myChannelIds.includes(id)) return; // not a member: the view offers to join
  markViewed(id);
  await loadChannelPosts(id);
  markViewed(id);
}

export async function createChannel(teamId: string, displayName: string, name: string, type: 'O' | 'P', purpose: string): Promise<Channel> {
  const channel = await client.createChannel({ team_id: teamId, display_name: displayName, name, type, purpose } as Channel);
  receiveChannels([channel], true);
  return channel;
}

export async function joinChannel(channel: Channel): Promise<void> {
  const me = getState().me;
  if (!me) return;
  await client.addToChannel(me.id, channel.id);
  receiveChannels([channel], true);
  markViewed(channel.id);
  await loadChannelPosts(channel.id);
}

export async function leaveChannel(channel: Channel, teamName: string): Promise<void> {
  const me = getState().me;
  if (!me) return;
  await client.removeFromChannel(me.id, channel.id);
  forgetChannel(channel.id);
  navigate(channelPath(teamName, DEFAULT_CHANNEL));
}

/** All public channels of the team, for the channel browser. */
export async function browseChannels(teamId: string): Promise<Channel[]> {
  const channels = (await client.getChannels(teamId, 0, 200)).filter((c) => !c.delete_at);
  receiveChannels(channels, false);
  return channels;
}

/** Open (creating if needed) the direct message channel with a user. */
export async function openDirectChannel(teamName: string, user: UserProfile): Promise<void> {
  navigate(`/${encodeURIComponent(teamName)}/messages/@${encodeURIComponent(user.username)}`);
}

/** Open (creating if needed) the group message of me and `users` (2 to 7 others). */
export async function openGroupChannel(teamName: string, users: UserProfile[]): Promise<void> {
  const me = getState().me;
  if (!me) return;
  const channel = await client.createGroupChannel([me.id, ...users.map((u) => u.id)]);
  receiveChannels([channel], true);
  navigate(`/${encodeURIComponent(teamName)}/messages/${encodeURIComponent(channel.name)}`);
}

export async function resolveDirectChannel(username: string): Promise<Channel | undefined> {
  const s = getState();
  const me = s.me;
  if (!me) return undefined;
  let user = Object.values(s.users).find((u) => u.username === username);
  try {
    if (!user) {
      user = await client.getUserByUsername(username);
      update((st) => ({ users: { ...st.users, [user!.id]: user! } }));
    }
    const existing = s.myChannelIds.map((id) => s.channels[id]).find((c) => c?.type === 'D' && dmTeammateId(c, me.id) === user!.id);
    if (existing) return existing;
    const channel = await client.createDirectChannel([me.id, user.id]);
    receiveChannels([channel], true);
    await loadUnread(channel).catch(() => undefined);
    return channel;
  } catch (e) {
    update(() => ({ pageError: `Could not open a direct message with @${username}: ${errorText(e)}` }));
    return undefined;
  }
}

export async function openChannelById(channelId: string): Promise<void> {
  update(() => ({ currentChannelId: channelId, pageError: '' }));
  markViewed(channelId);
  await loadChannelPosts(channelId);
  markViewed(channelId);
}

/** Channel names as Mattermost allows them. */
export function channelNameFrom(displayName: string): string {
  const base = displayName
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return base.length >= 2 ? base.slice(0, 64) : `channel-${Date.now().toString(36)}`;
}
