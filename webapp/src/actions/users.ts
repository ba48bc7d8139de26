import type { UserProfile } from '@mattermost/types/users';
import { client } from '../client';
import { getState, update } from '../store';

const inFlight = new Set<string>();

export function receiveUsers(users: UserProfile[]): void {
  if (users.length === 0) return;
  update((s) => {
    const next = { ...s.users };
    for (const u of users) next[u.id] = u;
    return { users: next };
  });
}

/** Load the profiles (and statuses) of users not known yet. */
export async function ensureUsers(ids: string[]): Promise<void> {
  const known = getState().users;
  const missing = [...new Set(ids)].filter((id) => id && !known[id] && !inFlight.has(id));
  if (missing.length === 0) return;
  missing.forEach((id) => inFlight.add(id));
  try {
    receiveUsers(await client.getProfilesByIds(missing));
    await loadStatuses(missing);
  } finally {
    missing.forEach((id) => inFlight.delete(id));
  }
}

export async function loadStatuses(ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  const statuses = await client.getStatusesByIds(ids);
  update((s) => {
    const next = { ...s.statuses };
    for (const st of statuses) next[st.user_id] = st.status;
    return { statuses: next };
  });
}

/** How often the statuses of the people on screen are asked for, as Mattermost's web app does
 * (`STATUS_INTERVAL`): the server tells only a user of their own status changes. */
export const STATUS_INTERVAL_MS = 60_000;
/** The most users one poll asks about. */
const STATUS_POLL_MAX = 500;
let statusPoll: ReturnType<typeof setInterval> | undefined;

/** Poll the statuses of every user whose status we show, while logged in. */
export function startStatusPolling(): void {
  stopStatusPolling();
  statusPoll = setInterval(() => {
    const s = getState();
    if (!s.me) return;
    void loadStatuses(Object.keys(s.statuses).slice(0, STATUS_POLL_MAX)).catch(() => undefined);
  }, STATUS_INTERVAL_MS);
}

export function stopStatusPolling(): void {
  if (statusPoll !== undefined) clearInterval(statusPoll);
  statusPoll = undefined;
}

export function setStatus(userId: string, status: string): void {
  update((s) => ({ statuses: { ...s.statuses, [userId]: status } }));
}

export async function searchUsers(term: string, teamId: string): Promise<UserProfile[]> {
  const users = await client.searchUsers(term, { team_id: teamId, allow_inactive: false, limit: 20 } as never);
  receiveUsers(users);
  return users;
}

export function displayName(u: UserProfile | undefined): string {
  if (!u) return 'Someone';
  return u.username;
}

/** Upload a new profile picture for the signed-in user; every client hears `user_updated`. */
export async function uploadMyPicture(file: File): Promise<void> {
  const me = getState().me;
  if (!me) return;
  await client.uploadProfileImage(me.id, file);
}

/** A user's picture URL on this node: the uploaded one, or the initials the server draws. */
export function pictureUrl(u: UserProfile): string {
  return client.getProfilePictureUrl(u.id, u.last_picture_update ?? 0);
}
