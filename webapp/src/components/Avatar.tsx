import type { UserProfile } from '@mattermost/types/users';
import { useState } from 'preact/hooks';
import { useStore } from '../store';
import { pictureUrl } from '../actions/users';

const COLORS = ['#1e88e5', '#43a047', '#e53935', '#8e24aa', '#fb8c00', '#00897b', '#3949ab', '#6d4c41'];

function colorFor(id: string): string {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return COLORS[h % COLORS.length];
}

/** A user's picture as the server serves it (uploaded, or its initials; the URL changes with
 * `last_picture_update`, so a new picture shows at once), over their initials while it loads or
 * if it cannot; with a presence dot. */
export function Avatar(props: { user: UserProfile | undefined; size?: number; showStatus?: boolean }) {
  const status = useStore((s) => (props.user ? s.statuses[props.user.id] : undefined));
  const [failed, setFailed] = useState('');
  const size = props.size ?? 32;
  const u = props.user;
  const initials = u ? (u.first_name && u.last_name ? u.first_name[0] + u.last_name[0] : u.username.slice(0, 2)).toUpperCase() : '?';
  const src = u ? pictureUrl(u) : '';
  return (
    <span class="avatar" style={{ width: `${size}px`, height: `${size}px`, background: colorFor(u?.id ?? ''), fontSize: `${Math.round(size * 0.4)}px` }} aria-hidden="true">
      {initials}
      {src && failed !== src ? <img class="avatar__img" src={src} alt="" loading="lazy" width={size} height={size} onError={() => setFailed(src)} /> : null}
      {props.showStatus !== false && status ? <PresenceDot status={status} /> : null}
    </span>
  );
}

export function PresenceDot(props: { status: string; label?: boolean }) {
  return <span class={`presence presence--${props.status}`} title={props.status} aria-label={props.label ? props.status : undefined} />;
}
