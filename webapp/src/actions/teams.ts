import type { Team } from '@mattermost/types/teams';
import { client } from '../client';
import { getState, update } from '../store';
import { loadMyChannels } from './channels';

export function receiveTeams(teams: Team[], mine: boolean): void {
  update((s) => {
    const next = { ...s.teams };
    for (const t of teams) next[t.id] = t;
    const myTeamIds = mine ? [...new Set([...s.myTeamIds, ...teams.map((t) => t.id)])] : s.myTeamIds;
    return { teams: next, myTeamIds };
  });
}

export async function loadMyTeams(): Promise<Team[]> {
  const teams = (await client.getMyTeams()).filter((t) => !t.delete_at);
  update(() => ({ myTeamIds: [] }));
  receiveTeams(teams, true);
  return teams;
}

/** Team names as Mattermost allows them: lowercase letters, digits and dashes. */
export function teamNameFrom(displayName: string): string {
  const base = displayName
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return base.length >= 2 ? base.slice(0, 64) : `team-${Date.now().toString(36)}`;
}

export async function createTeam(displayName: string, name: string): Promise<Team> {
  const team = await client.createTeam({ display_name: displayName, name, type: 'O' } as Team);
  receiveTeams([team], true);
  await loadMyChannels(team.id);
  return team;
}

/** Open teams the user could join. */
export async function loadJoinableTeams(): Promise<Team[]> {
  const teams = (await client.getTeams(0, 200)) as Team[];
  receiveTeams(teams, false);
  const mine = new Set(getState().myTeamIds);
  return teams.filter((t) => !mine.has(t.id) && !t.delete_at && (t.allow_open_invite || t.type === 'O'));
}

export async function joinTeam(team: Team): Promise<void> {
  const me = getState().me;
  if (!me) return;
  await client.addToTeam(team.id, me.id);
  receiveTeams([team], true);
  await loadMyChannels(team.id);
}

export function teamByName(name: string): Team | undefined {
  const s = getState();
  return s.myTeamIds.map((id) => s.teams[id]).find((t) => t?.name === name);
}
