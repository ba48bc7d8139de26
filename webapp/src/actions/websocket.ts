// The websocket, as Mattermost's web app runs it (websocket_actions.jsx): WebSocketClient opens
// it with the session cookie and, after a drop, reconnects through the load balancer with
// connection_id and sequence_number, so the node it lands on replays what was missed. The
// `hello` names the node (server_hostname). After a reconnect the open channel is also fetched
// `since` its newest post (what the web app's reconnect() does); posts are keyed by id, so one
// that arrives both ways is shown once. A new connection_id means the server could not resume:
// everything on screen is reloaded.
import type { Post } from '@mattermost/types/posts';
import type { UserProfile } from '@mattermost/types/users';
import type { ServerChannel as Channel } from '@mattermost/types/channels';
import type { WebSocketMessage } from '@mattermost/client';
import { ws, websocketUrl } from '../client';
import { getState, update } from '../store';
import { receivePosts, removePost, loadSince } from './posts';
import { clearUnread, countNewPost } from './unreads';
import { setStatus, ensureUsers, receiveUsers } from './users';
import { refreshThreadCounts } from './threads';
import { ensureMyChannels, loadMyChannels, forgetChannel, receiveChannels } from './channels';
import { loadMyTeams } from './teams';
import { flushOutbox } from './outbox';
import { notifyMention } from './notifications';
import { bearerToken } from './session';
import { receivePreferences, receiveReaction } from './reactions';
import type { Reaction } from '@mattermost/types/reactions';
import type { PreferenceType } from '@mattermost/types/preferences';

/** How long a typing indicator stays without a new `typing` event (Mattermost: 5 s). */
export const TYPING_TIMEOUT_MS = 5000;
/** At most one `user_typing` per channel this often. */
export const TYPING_THROTTLE_MS = 2000;

let started = false;

export function connectWebSocket(): void {
  if (started) return;
  started = true;
  update(() => ({ connection: 'connecting' }));
  ws.addMessageListener(onMessage);
  ws.addFirstConnectListener(() => update(() => ({ connection: 'connected' })));
  ws.addReconnectListener(onReconnect);
  ws.addMissedMessageListener(onMissed);
  ws.addCloseListener(() => update(() => ({ connection: 'reconnecting' })));
  // With a bearer token (see session.ts) the socket authenticates by authentication_challenge.
  ws.initialize(websocketUrl(), bearerToken() || undefined, true);
}

export function disconnectWebSocket(): void {
  if (!started) return;
  started = false;
  ws.close();
  ws.removeMessageListener(onMessage);
  ws.removeReconnectListener(onReconnect);
  ws.removeMissedMessageListener(onMissed);
  update(() => ({ connection: 'offline' }));
}

function onReconnect(): void {
  update(() => ({ connection: 'connected' }));
  const s = getState();
  if (s.currentChannelId) void loadSince(s.currentChannelId).catch(() => undefined);
  void flushOutbox();
}

/** The server could not resume this connection: reload what the screen shows. */
function onMissed(): void {
  const s = getState();
  void loadMyTeams().then(() => Promise.all(getState().myTeamIds.map((id) => loadMyChannels(id)))).catch(() => undefined);
  if (s.currentChannelId) void loadSince(s.currentChannelId).catch(() => undefined);
}

function parse<T>(v: unknown): T | undefined {
  if (typeof v !== 'string') return v as T;
  try {
    return JSON.parse(v) as T;
  } catch {
    return undefined;
  }
}

function onMessage(msg: WebSocketMessage): void {
  const data = (msg.data ?? {}) as Record<string, unknown>;
  const s = getState();
  switch (msg.event) {
    case 'hello':
      update(() => ({
        serverHostname: String(data.server_hostname ?? ''),
        serverVersion: String(data.server_version ?? ''),
        connectionId: String(data.connection_id ?? ''),
        connection: 'connected',
      }));
      void flushOutbox();
      return;
    case 'posted': {
      const post = parse<Post>(data.post);
      if (!post) return;
      const known = !!s.posts[post.id];
      receivePosts([post]);
      if (known) return;
      const onScreen = s.currentChannelId === post.channel_id && document.visibilityState === 'visible';
      if (!s.myChannelIds.includes(post.channel_id)) {
        // A post in a channel we have not loaded yet (a new DM): load the team's channels.
        void refreshChannels(String(data.team_id ?? ''));
      }
      const mention = countNewPost(post, data.mentions, onScreen);
      if (mention && !onScreen) notifyMention(post, String(data.channel_display_name ?? ''), String(data.sender_name ?? ''));
      clearTyping(typingKey(post.channel_id, post.root_id), post.user_id);
      return;
    }
    case 'ephemeral_message': {
      // Only this user sees it (a command's answer or refusal); it is not stored on the server.
      const post = parse<Post>(data.post);
      if (post) receivePosts([{ ...post, type: 'system_ephemeral' } as Post]);
      return;
    }
    case 'post_edited': {
      const post = parse<Post>(data.post);
      if (post) receivePosts([post]);
      return;
    }
    case 'post_deleted': {
      const post = parse<Post>(data.post);
      if (post) removePost(post.id);
      return;
    }
    case 'reaction_added':
    case 'reaction_removed': {
      const reaction = parse<Reaction>(data.reaction);
      if (reaction) receiveReaction(reaction, msg.event === 'reaction_added');
      return;
    }
    case 'preferences_changed':
    case 'preferences_deleted': {
      const prefs = parse<PreferenceType[]>(data.preferences);
      if (prefs) receivePreferences(prefs, msg.event === 'preferences_changed');
      return;
    }
    case 'typing': {
      const userId = String(data.user_id ?? '');
      const channelId = msg.broadcast.channel_id;
      if (!userId || userId === s.me?.id) return;
      const key = typingKey(channelId, String(data.parent_id ?? ''));
      const until = Date.now() + TYPING_TIMEOUT_MS;
      void ensureUsers([userId]);
      update((st) => ({ typing: { ...st.typing, [key]: { ...(st.typing[key] ?? {}), [userId]: until } } }));
      setTimeout(() => expireTyping(key, userId), TYPING_TIMEOUT_MS + 50);
      return;
    }
    case 'thread_updated':
    case 'thread_read_changed':
    case 'thread_follow_changed':
      refreshThreadCounts(msg.broadcast.team_id);
      return;
    case 'user_updated': {
      const user = parse<UserProfile>(data.user);
      if (!user?.id) return;
      receiveUsers([user]);
      if (user.id === s.me?.id) update(() => ({ me: { ...s.me, ...user } as UserProfile }));
      return;
    }
    case 'status_change':
      setStatus(String(data.user_id ?? ''), String(data.status ?? ''));
      return;
    case 'channel_created':
    case 'channel_updated':
    case 'direct_added':
    case 'group_added':
    case 'user_added':
      if (msg.event === 'user_added' && data.user_id !== s.me?.id) return;
      void refreshChannels(String(data.team_id ?? msg.broadcast.team_id ?? ''));
      return;
    case 'user_removed':
      if ((data.user_id ?? msg.broadcast.user_id) === s.me?.id || msg.broadcast.user_id === s.me?.id) {
        const channelId = String(data.channel_id ?? msg.broadcast.channel_id ?? '');
        if (channelId) forgetChannel(channelId);
      }
      return;
    case 'added_to_team':
    case 'leave_team':
    case 'delete_team':
      void loadMyTeams()
        .then((teams) => Promise.all(teams.map((t) => ensureMyChannels(t.id))))
        .catch(() => undefined);
      return;
    case 'multiple_channels_viewed':
      // this user read channels in another session (the server also sends `channel_viewed`, for
      // the mobile app)
      for (const id of Object.keys((data.channel_times ?? {}) as Record<string, number>)) clearUnread(id);
      return;
    case 'channel_deleted': {
      const channel = s.channels[String(data.channel_id ?? '')];
      if (channel) receiveChannels([{ ...channel, delete_at: Number(data.delete_at ?? Date.now()) } as Channel], false);
      return;
    }
    default:
  }
}

async function refreshChannels(teamId: string): Promise<void> {
  const ids = teamId ? [teamId] : getState().myTeamIds;
  await Promise.all(ids.map((id) => loadMyChannels(id).catch(() => undefined)));
}

export function typingKey(channelId: string, parentId: string): string {
  return parentId ? `${channelId}:${parentId}` : channelId;
}

function expireTyping(key: string, userId: string): void {
  const entry = getState().typing[key];
  if (!entry || !entry[userId] || entry[userId] > Date.now()) return;
  update((st) => {
    const next = { ...(st.typing[key] ?? {}) };
    delete next[userId];
    return { typing: { ...st.typing, [key]: next } };
  });
}

/** A post from someone ends their typing indicator where they wrote it (channel or thread). */
function clearTyping(key: string, userId: string): void {
  const entry = getState().typing[key];
  if (!entry?.[userId]) return;
  update((st) => {
    const next = { ...(st.typing[key] ?? {}) };
    delete next[userId];
    return { typing: { ...st.typing, [key]: next } };
  });
}

const lastTyping = new Map<string, number>();

/** After a post the next keystroke announces typing again at once (the post cleared the indicator). */
export function resetTyping(channelId: string, parentId: string): void {
  lastTyping.delete(typingKey(channelId, parentId));
}

/** Tell the channel the user is typing (at most every TYPING_THROTTLE_MS). */
export function userTyping(channelId: string, parentId: string): void {
  const key = typingKey(channelId, parentId);
  const now = Date.now();
  if ((lastTyping.get(key) ?? 0) + TYPING_THROTTLE_MS > now) return;
  lastTyping.set(key, now);
  if (getState().connection === 'connected') ws.userTyping(channelId, parentId);
}
