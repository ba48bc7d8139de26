// The two connections the app has to its server, set up exactly as Mattermost's web app sets them
// up (root.tsx): Client4 authenticates by the MMAUTHTOKEN cookie only (no Authorization header),
// sends X-Requested-With, and sends X-CSRF-Token from the MMCSRF cookie on every write; the
// websocket is opened without a token, so the cookie on the upgrade authenticates it.
import { Client4, WebSocketClient } from '@mattermost/client';

export const client = new Client4();
client.setUrl(window.location.origin);
client.setAuthHeader = false;
client.setIncludeCookies(true);

/** Reconnect sooner than Mattermost's 3 s + up to 2 s of jitter: behind the load balancer a
 * live node takes over at once, and benchmarks.md target 15 wants every missed post on screen
 * within 3 s. Jitter still spreads a whole node's clients over half a second. */
export const RECONNECT_MIN_MS = 1000;
export const RECONNECT_JITTER_MS = 500;

export const ws = new WebSocketClient({
  minWebSocketRetryTime: RECONNECT_MIN_MS,
  reconnectJitterRange: RECONNECT_JITTER_MS,
});

export function websocketUrl(): string {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${window.location.host}/api/v4/websocket`;
}

let lastPendingMs = 0;

/** A pending post's id as Mattermost's web app makes it, `<user id>:<ms>`; the milliseconds
 * move on by one when two posts are made in the same one, so each pending post has its own id
 * (the server echoes it in the answer and in `posted`). */
export function pendingPostId(userId: string): string {
  lastPendingMs = Math.max(Date.now(), lastPendingMs + 1);
  return `${userId}:${lastPendingMs}`;
}

/** An upload's client id: a random 26-character id of Mattermost's alphabet. */
export function clientId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(26));
  let id = '';
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}
