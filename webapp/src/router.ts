// Paths as Mattermost's web app spells them, so links and bookmarks mean the same thing:
//   /login, /signup_user_complete, /select_team, /create_team
//   /{team}/channels/{channel}, /{team}/messages/@{username}, /{team}/messages/{group channel name},
//   /{team}/pl/{post_id}
//   /admin_console/{section}/{page}
import { update } from './store';

export type Route =
  | { kind: 'login' }
  | { kind: 'signup' }
  | { kind: 'root' }
  | { kind: 'select_team' }
  | { kind: 'create_team' }
  | { kind: 'channel'; team: string; channel: string }
  | { kind: 'dm'; team: string; username: string }
  | { kind: 'team'; team: string }
  | { kind: 'admin'; page: string };

export function parseRoute(path: string): Route {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { kind: 'root' };
  if (parts[0] === 'login') return { kind: 'login' };
  if (parts[0] === 'signup_user_complete') return { kind: 'signup' };
  if (parts[0] === 'select_team') return { kind: 'select_team' };
  if (parts[0] === 'create_team') return { kind: 'create_team' };
  if (parts[0] === 'admin_console') return { kind: 'admin', page: parts.slice(1).join('/') || 'environment/high_availability' };
  if (parts.length >= 3 && parts[1] === 'channels') return { kind: 'channel', team: parts[0], channel: parts[2] };
  if (parts.length >= 3 && parts[1] === 'messages' && parts[2].startsWith('@')) {
    return { kind: 'dm', team: parts[0], username: parts[2].slice(1) };
  }
  // a group message, by its channel name
  if (parts.length >= 3 && parts[1] === 'messages') return { kind: 'channel', team: parts[0], channel: parts[2] };
  return { kind: 'team', team: parts[0] };
}

export function channelPath(teamName: string, channelName: string): string {
  return `/${encodeURIComponent(teamName)}/channels/${encodeURIComponent(channelName)}`;
}

export function navigate(path: string, replace = false): void {
  if (path === window.location.pathname) return;
  if (replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  update(() => ({ path }));
}

window.addEventListener('popstate', () => update(() => ({ path: window.location.pathname })));
