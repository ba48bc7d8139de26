// Suggestions for what is being typed at the caret: @user and ~channel, as Mattermost offers them.
import type { ServerChannel as Channel } from '@mattermost/types/channels';
import type { UserProfile } from '@mattermost/types/users';
import { client } from '../client';
import { getState } from '../store';
import { receiveChannels } from './channels';
import { receiveUsers } from './users';

export interface Suggestion {
  /** What replaces the typed word, e.g. "@alice " */
  complete: string;
  label: string;
  hint: string;
}

/** The word being typed if it starts with @ or ~ (its start index and text). */
export function wordAtCaret(text: string, caret: number): { start: number; word: string } | null {
  const before = text.slice(0, caret);
  const m = /(^|\s)([@~][\w.\-]*)$/.exec(before);
  if (!m) return null;
  return { start: caret - m[2].length, word: m[2] };
}

/** People to offer for "@term": the channel's members first, then the team's other members
 * (`GET /users/autocomplete`, as Mattermost's web app asks). */
async function usersFor(term: string, teamId: string, channelId: string): Promise<Suggestion[]> {
  const r = await client.autocompleteUsers(term, teamId, channelId, { limit: 25 }).catch(() => null);
  if (!r) return [];
  const others = r.out_of_channel ?? [];
  receiveUsers([...r.users, ...others]);
  const me = getState().me?.id;
  const label = (u: UserProfile, outside: boolean) => ({
    complete: `@${u.username} `,
    label: `@${u.username}`,
    hint: [[u.first_name, u.last_name].filter(Boolean).join(' '), outside ? 'not in channel' : ''].filter(Boolean).join(' · '),
  });
  return [...r.users.filter((u) => u.id !== me).map((u) => label(u, false)), ...others.map((u) => label(u, true))];
}

export async function suggestionsFor(word: string, teamId: string, channelId: string): Promise<Suggestion[]> {
  const term = word.slice(1).toLowerCase();
  if (word.startsWith('@')) {
    const users = await usersFor(term, teamId, channelId);
    const special = ['here', 'channel', 'all']
      .filter((n) => n.startsWith(term))
      .map((n) => ({ complete: `@${n} `, label: `@${n}`, hint: 'Notifies everyone in the channel' }));
    return [...users.slice(0, 8), ...special];
  }
  // Open channels and the private ones I am in, by name or a word of the display name.
  const channels = (await client.autocompleteChannels(teamId, term).catch(() => [])) as Channel[];
  receiveChannels(channels, false);
  return channels
    .filter((c) => !c.delete_at)
    .slice(0, 8)
    .map((c) => ({ complete: `~${c.name} `, label: `~${c.name}`, hint: c.display_name }));
}
