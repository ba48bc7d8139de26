// The app's state in one object, changed only through `update`, read by components through
// `useStore(selector)`. Actions (src/actions) hold the rules; components only render and call them.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { UserProfile } from '@mattermost/types/users';
import type { Team } from '@mattermost/types/teams';
import type { ServerChannel as Channel } from '@mattermost/types/channels';
import type { Post } from '@mattermost/types/posts';
import type { FileInfo } from '@mattermost/types/files';

export type ConnectionState = 'offline' | 'connecting' | 'connected' | 'reconnecting';

/** A channel's loaded posts, newest first, and whether the oldest post is loaded. */
export interface ChannelPosts {
  order: string[];
  atOldest: boolean;
  loadingOlder: boolean;
  loaded: boolean;
}

/** A post the user wrote that the server has not confirmed yet. */
export interface PendingPost {
  pendingPostId: string;
  channelId: string;
  rootId: string;
  message: string;
  fileIds: string[];
  createAt: number;
  /** queued: waiting for the connection; sending: in flight; failed: the server refused it. */
  state: 'queued' | 'sending' | 'failed';
  /** A send got no answer: the server may have the post already, so look before sending again. */
  uncertain?: boolean;
  error?: string;
}

export interface Unread {
  msgs: number;
  mentions: number;
}

export interface Toast {
  id: number;
  text: string;
}

export interface State {
  config: Record<string, string>;
  me: UserProfile | null;
  /** False until the first check of the session is done. */
  booted: boolean;
  teams: Record<string, Team>;
  myTeamIds: string[];
  channels: Record<string, Channel>;
  /** Channel ids the user belongs to. */
  myChannelIds: string[];
  posts: Record<string, Post>;
  postsInChannel: Record<string, ChannelPosts>;
  /** Thread root id -> reply ids, oldest first. */
  threads: Record<string, string[]>;
  pending: PendingPost[];
  files: Record<string, FileInfo>;
  users: Record<string, UserProfile>;
  statuses: Record<string, string>;
  /** channel id (or "channel:root") -> user id -> time the indicator expires */
  typing: Record<string, Record<string, number>>;
  unread: Record<string, Unread>;
  /** Post ids the user saved (their `flagged_post` preferences). */
  saved: Record<string, true>;
  /** Team id -> followed threads with unread replies, and unread mentions in threads. */
  threadCounts: Record<string, { threads: number; mentions: number }>;
  connection: ConnectionState;
  /** The websocket's node (the hello's server_hostname), as Mattermost's About dialog shows it. */
  serverHostname: string;
  serverVersion: string;
  connectionId: string;
  path: string;
  currentTeamId: string;
  currentChannelId: string;
  openThreadId: string;
  /** A problem to show where the user looks (bad route, failed load); cleared on navigation. */
  pageError: string;
  toasts: Toast[];
}

const initial: State = {
  config: {},
  me: null,
  booted: false,
  teams: {},
  myTeamIds: [],
  channels: {},
  myChannelIds: [],
  posts: {},
  postsInChannel: {},
  threads: {},
  pending: [],
  files: {},
  users: {},
  statuses: {},
  typing: {},
  unread: {},
  saved: {},
  threadCounts: {},
  connection: 'offline',
  serverHostname: '',
  serverVersion: '',
  connectionId: '',
  path: window.location.pathname,
  currentTeamId: '',
  currentChannelId: '',
  openThreadId: '',
  pageError: '',
  toasts: [],
};

let state: State = initial;
const listeners = new Set<() => void>();
let scheduled = false;

export function getState(): State {
  return state;
}

/** Apply a change; listeners run once per animation frame at most. */
export function update(change: (s: State) => Partial<State>): void {
  state = { ...state, ...change(state) };
  if (!scheduled) {
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      listeners.forEach((l) => l());
    });
  }
}

export function resetState(): void {
  state = { ...initial, config: state.config, booted: true, path: window.location.pathname };
  listeners.forEach((l) => l());
}

export function subscribe(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** Re-render when what `select` returns changes (compared with ===). */
export function useStore<T>(select: (s: State) => T): T {
  const selectRef = useRef(select);
  selectRef.current = select;
  const [, force] = useState(0);
  const last = useRef<T>(select(state));
  last.current = select(state);
  useEffect(
    () =>
      subscribe(() => {
        const next = selectRef.current(state);
        if (next !== last.current) {
          last.current = next;
          force((n) => n + 1);
        }
      }),
    [],
  );
  return last.current;
}
