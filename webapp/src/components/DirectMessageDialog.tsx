import type { Team } from '@mattermost/types/teams';
import type { UserProfile } from '@mattermost/types/users';
import { useEffect, useState } from 'preact/hooks';
import { searchUsers } from '../actions/users';
import { openDirectChannel, openGroupChannel } from '../actions/channels';
import { errorText } from '../actions/errors';
import { useStore } from '../store';
import { Avatar } from './Avatar';
import { Dialog } from './Dialog';

/** Mattermost's limit: a group message has at most 8 members, me included. */
const GROUP_MAX_OTHERS = 7;

/** Find a teammate and open a direct message with them, or pick several for a group message. */
export function DirectMessageDialog(props: { team: Team; onClose: () => void }) {
  const myId = useStore((s) => s.me?.id);
  const [term, setTerm] = useState('');
  const [users, setUsers] = useState<UserProfile[]>([]);
  const [picked, setPicked] = useState<UserProfile[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    const t = setTimeout(() => {
      searchUsers(term, props.team.id).then((u) => setUsers(u.filter((x) => x.id !== myId)), (e) => setError(errorText(e)));
    }, 150);
    return () => clearTimeout(t);
  }, [term, props.team.id, myId]);
  const toggle = (u: UserProfile, on: boolean) =>
    setPicked((p) => (on ? (p.length < GROUP_MAX_OTHERS && !p.some((x) => x.id === u.id) ? [...p, u] : p) : p.filter((x) => x.id !== u.id)));
  const startGroup = () => {
    openGroupChannel(props.team.name, picked).then(props.onClose, (e) => setError(errorText(e)));
  };
  return (
    <Dialog title="Direct message" onClose={props.onClose}>
      <label>
        Find a person
        <input type="search" value={term} placeholder="username" onInput={(e) => setTerm(e.currentTarget.value)} />
      </label>
      {error ? <p class="form-error" role="alert">{error}</p> : null}
      <ul class="browse-list">
        {users.map((u) => {
          const on = picked.some((x) => x.id === u.id);
          return (
            <li key={u.id}>
              <label class="user-row">
                <input
                  type="checkbox"
                  checked={on}
                  disabled={!on && picked.length >= GROUP_MAX_OTHERS}
                  aria-label={`Add @${u.username} to a group message`}
                  onChange={(e) => toggle(u, e.currentTarget.checked)}
                />
                <Avatar user={u} size={24} /> @{u.username}
              </label>
              <button
                type="button"
                class="btn btn--small"
                onClick={() => {
                  void openDirectChannel(props.team.name, u);
                  props.onClose();
                }}
              >
                Message
              </button>
            </li>
          );
        })}
      </ul>
      {picked.length >= 2 ? (
        <div class="dialog__actions">
          <span>{picked.map((u) => `@${u.username}`).join(', ')}</span>
          <button type="button" class="btn btn--primary" onClick={startGroup}>
            Start group message
          </button>
        </div>
      ) : picked.length === 1 ? (
        <p class="hint">Pick one more person for a group message.</p>
      ) : null}
    </Dialog>
  );
}
