import { useStore } from '../store';
import { channelPath, navigate } from '../router';
import { teamUnread } from '../selectors';
import { DEFAULT_CHANNEL } from '../actions/channels';

/** The narrow column of team buttons: switch team, or make a new one. */
export function TeamSidebar(props: { currentTeamId: string }) {
  const teams = useStore((s) => s.myTeamIds.map((id) => s.teams[id]).filter(Boolean));
  const state = useStore((s) => s);
  return (
    <nav class="team-sidebar" aria-label="Teams">
      <ul>
        {teams.map((t) => {
          const u = teamUnread(state, t.id);
          const current = t.id === props.currentTeamId;
          return (
            <li key={t.id}>
              <button
                type="button"
                class={`team-button${current ? ' team-button--current' : ''}${u.msgs && !current ? ' team-button--unread' : ''}`}
                aria-current={current ? 'page' : undefined}
                aria-label={`${t.display_name}${u.mentions ? `, ${u.mentions} mentions` : u.msgs ? ', unread' : ''}`}
                title={t.display_name}
                onClick={() => navigate(channelPath(t.name, DEFAULT_CHANNEL))}
              >
                {t.display_name.slice(0, 2)}
                {u.mentions && !current ? <span class="badge">{u.mentions}</span> : null}
              </button>
            </li>
          );
        })}
        <li>
          <button type="button" class="team-button team-button--add" aria-label="Create or join a team" title="Create or join a team" onClick={() => navigate('/select_team')}>
            +
          </button>
        </li>
      </ul>
    </nav>
  );
}
