import type { Team } from '@mattermost/types/teams';
import type { UserProfile } from '@mattermost/types/users';
import { useEffect, useState } from 'preact/hooks';
import { searchUsers } from '../actions/users';
import { openDirectChannel } from '../actions/channels';
import { errorText } from '../actions/errors';
import { useStore } from '../store';
import { Avatar } from './Avatar';
import { Dialog } from './Dialog';

/** Find a teammate and open a direct message with them. */
export function DirectMessageDialog(props: { team: Team; onClose: () => void }) {
  const myId = useStore((s) => s.me?.id);
  const [term, setTerm] = useState('');
  const [users, setUsers] = useState<UserProfile[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    const t = setTimeout(() => {
      searchUsers(term, props.team.id).then((u) => setUsers(u.filter((x) => x.id !== myId)), (e) => setError(errorText(e)));
    }, 150);
    return () => clearTimeout(t);
  }, [term, props.team.id, myId]);
  return (
    <Dialog title="Direct message" onClose={props.onClose}>
      <label>
        Find a person
        <input type="search" value={term} placeholder="username" onInput={(e) => setTerm(e.currentTarget.value)} />
      </label>
      {error ? <p class="form-error" role="alert">{error}</p> : null}
      <ul class="browse-list">
        {users.map((u) => (
          <li key={u.id}>
            <span class="user-row">
              <Avatar user={u} size={24} /> @{u.username}
            </span>
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
        ))}
      </ul>
    </Dialog>
  );
}
