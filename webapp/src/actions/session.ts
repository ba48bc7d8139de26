// Starting up as Mattermost's web app does (loadConfigAndMe): the client config first, then, if
// the MMUSERID cookie says a session may exist, the user and their teams; then the websocket.
import type { UserProfile } from '@mattermost/types/users';
import { client } from '../client';
import { getState, resetState, update } from '../store';
import { navigate, parseRoute } from '../router';
import { ensureMyChannels } from './channels';
import { loadMyTeams } from './teams';
import { connectWebSocket, disconnectWebSocket } from './websocket';
import { receiveUsers, loadStatuses, startStatusPolling, stopStatusPolling } from './users';
import { loadSavedPosts } from './reactions';

function hasSessionCookie(): boolean {
  return document.cookie.split(';').some((c) => c.trim().startsWith('MMUSERID='));
}

/** Tools may open a page with a token in the fragment (#token=..., never sent to a server or
 * logged), as the old High Availability page allowed; it is then used as a bearer token for
 * this tab only, instead of the cookie. */
const TOKEN_KEY = 'starling_token';

function tokenFromFragment(): string {
  const fromHash = new URLSearchParams(window.location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    window.history.replaceState(null, '', window.location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function bearerToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export async function boot(): Promise<void> {
  const token = tokenFromFragment();
  if (token) {
    client.setToken(token);
    client.setAuthHeader = true;
  }
  const config = client.getClientConfig().then(
    (c) => update(() => ({ config: c as unknown as Record<string, string> })),
    () => undefined, // the login page still works without it
  );
  if (token || hasSessionCookie()) {
    // The user, their teams and the config at once: three round trips in parallel, not in a row.
    const teams = loadMyTeams();
    teams.catch(() => undefined);
    try {
      const me = await client.getMe();
      const myTeams = await teams;
      // A deep link's team: its channels start loading before the team view is drawn.
      const route = parseRoute(window.location.pathname);
      const team = 'team' in route ? myTeams.find((t) => t.name === route.team) : undefined;
      if (team) void ensureMyChannels(team.id).catch(() => undefined);
      startSession(me);
    } catch {
      // the session is gone: log in again
      sessionStorage.removeItem(TOKEN_KEY);
    }
  }
  await config;
  update(() => ({ booted: true }));
}

/** Teams are loaded: once `me` is set, App picks where to go, and that depends on the teams. */
function startSession(me: UserProfile): void {
  update(() => ({ me }));
  receiveUsers([me]);
  connectWebSocket();
  void loadStatuses([me.id]);
  startStatusPolling();
  void loadSavedPosts().catch(() => undefined);
  // Every team's channels and counts, for the team switcher's badges (the team on screen is
  // already loading; the others queue behind it).
  for (const id of getState().myTeamIds) void ensureMyChannels(id).catch(() => undefined);
}

export async function login(loginId: string, password: string): Promise<void> {
  const me = await client.login(loginId, password);
  await loadMyTeams();
  startSession(me);
}

export async function signup(email: string, username: string, password: string): Promise<void> {
  await client.createUser({ email, username, password } as UserProfile, '', '');
  await login(username, password);
}

export async function logout(): Promise<void> {
  disconnectWebSocket();
  stopStatusPolling();
  sessionStorage.removeItem(TOKEN_KEY);
  try {
    await client.logout();
  } finally {
    resetState();
    navigate('/login', true);
  }
}

export function isSystemAdmin(): boolean {
  return (getState().me?.roles ?? '').split(' ').includes('system_admin');
}
