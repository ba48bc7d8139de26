import type { UserProfile } from '@mattermost/types/users';
import { useEffect, useState } from 'preact/hooks';
import { listUsers, setSystemAdmin, setUserActive } from '../../actions/admin';
import { errorText } from '../../actions/errors';
import { useStore } from '../../store';

const PER_PAGE = 50;

/** Every user: roles, whether active, and deactivate / activate (User Management > Users). */
export function UsersPage() {
  const meId = useStore((s) => s.me?.id);
  const [page, setPage] = useState(0);
  const [users, setUsers] = useState<UserProfile[] | null>(null);
  const [error, setError] = useState('');
  const load = () => listUsers(page, PER_PAGE).then(setUsers, (e) => setError(errorText(e)));
  useEffect(() => {
    void load();
  }, [page]);
  const toggle = async (u: UserProfile) => {
    if (u.delete_at === 0 && !window.confirm(`Deactivate @${u.username}? Their sessions end at once.`)) return;
    try {
      await setUserActive(u.id, u.delete_at !== 0);
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  };
  const toggleAdmin = async (u: UserProfile) => {
    try {
      await setSystemAdmin(u, !u.roles.split(' ').includes('system_admin'));
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      {error ? <p class="form-error" role="alert">{error}</p> : null}
      <div class="table-scroll">
        <table class="table">
          <thead>
            <tr>
              <th scope="col">Username</th>
              <th scope="col">Email</th>
              <th scope="col">Roles</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(users ?? []).map((u) => (
              <tr key={u.id} data-username={u.username}>
                <td>@{u.username}</td>
                <td>{u.email}</td>
                <td>{u.roles}</td>
                <td>{u.delete_at ? 'Deactivated' : 'Active'}</td>
                <td>
                  {u.id === meId ? null : (
                    <span class="row-actions">
                      <button type="button" class="btn btn--small" onClick={() => void toggleAdmin(u)} aria-label={`${u.roles.includes('system_admin') ? 'Remove system admin from' : 'Make system admin'} @${u.username}`}>
                        {u.roles.includes('system_admin') ? 'Remove admin' : 'Make admin'}
                      </button>
                      <button type="button" class="btn btn--small" onClick={() => void toggle(u)} aria-label={`${u.delete_at ? 'Activate' : 'Deactivate'} @${u.username}`}>
                        {u.delete_at ? 'Activate' : 'Deactivate'}
                      </button>
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div class="pager">
        <button type="button" class="btn btn--small" disabled={page === 0} onClick={() => setPage(page - 1)}>
          Previous
        </button>
        <span>Page {page + 1}</span>
        <button type="button" class="btn btn--small" disabled={(users?.length ?? 0) < PER_PAGE} onClick={() => setPage(page + 1)}>
          Next
        </button>
      </div>
    </section>
  );
}
