import type { Team } from '@mattermost/types/teams';
import { useEffect, useState } from 'preact/hooks';
import { createTeam, joinTeam, loadJoinableTeams, teamNameFrom } from '../actions/teams';
import { errorText } from '../actions/errors';
import { logout } from '../actions/session';
import { DEFAULT_CHANNEL } from '../actions/channels';
import { channelPath, navigate } from '../router';
import { useStore } from '../store';

/** Where a user without a team lands, and where any user creates or joins one. */
export function SelectTeamPage() {
  const hasTeams = useStore((s) => s.myTeamIds.length > 0);
  const [joinable, setJoinable] = useState<Team[]>([]);
  const [displayName, setDisplayName] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    loadJoinableTeams().then(setJoinable, () => setJoinable([]));
  }, []);
  const go = (team: Team) => navigate(channelPath(team.name, DEFAULT_CHANNEL));
  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      go(await createTeam(displayName.trim(), teamNameFrom(displayName)));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const join = async (team: Team) => {
    try {
      await joinTeam(team);
      go(team);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <main class="auth-page">
      <div class="auth-card">
        <form onSubmit={create} aria-labelledby="create-team-title">
          <h1 id="create-team-title">Create a team</h1>
          <label>
            Team name
            <input name="team_display_name" value={displayName} maxLength={64} onInput={(e) => setDisplayName(e.currentTarget.value)} required />
          </label>
          {displayName ? <p class="hint">Its address: /{teamNameFrom(displayName)}</p> : null}
          {error ? <p class="form-error" role="alert">{error}</p> : null}
          <button type="submit" class="btn btn--primary" disabled={busy || !displayName.trim()}>
            Create team
          </button>
        </form>
        {joinable.length > 0 ? (
          <section aria-labelledby="join-title">
            <h2 id="join-title">Or join a team</h2>
            <ul class="plain-list">
              {joinable.map((t) => (
                <li key={t.id}>
                  <button type="button" class="btn" onClick={() => join(t)}>
                    Join {t.display_name}
                  </button>
                </li>
              ))}
            </ul>
          </section>
        ) : null}
        <p class="auth-card__footer">
          {hasTeams ? (
            <button type="button" class="btn btn--link" onClick={() => navigate('/')}>
              Back to my teams
            </button>
          ) : null}
          <button type="button" class="btn btn--link" onClick={() => void logout()}>
            Log out
          </button>
        </p>
      </div>
    </main>
  );
}
