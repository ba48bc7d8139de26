// Suggestions for what is being typed at the caret: @user and ~channel, as Mattermost offers them.
import type { ServerChannel as Channel } from '@mattermost/types/channels';
import { getState } from '../store';
import { searchUsers } from './users';

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

export async function suggestionsFor(word: string, teamId: string): Promise<Suggestion[]> {
  const term = word.slice(1).toLowerCase();
  if (word.startsWith('@')) {
    // The server wants a search term; for a bare "@" the people already on screen are offered.
    const users = term
      ? await searchUsers(term, teamId).catch(() => [])
      : Object.values(getState().users).filter((u) => u.id !== getState().me?.id && !u.delete_at);
    const special = ['here', 'channel', 'all']
      .filter((n) => n.startsWith(term))
      .map((n) => ({ complete: `@${n} `, label: `@${n}`, hint: 'Notifies everyone in the channel' }));
    return [
      ...users.slice(0, 8).map((u) => ({ complete: `@${u.username} `, label: `@${u.username}`, hint: [u.first_name, u.last_name].filter(Boolean).join(' ') })),
      ...special,
    ];
  }
  const s = getState();
  const channels = Object.values(s.channels).filter(
    (c): c is Channel => !!c && c.team_id === teamId && c.type === 'O' && !c.delete_at && (c.name.includes(term) || c.display_name.toLowerCase().includes(term)),
  );
  return channels.slice(0, 8).map((c) => ({ complete: `~${c.name} `, label: `~${c.name}`, hint: c.display_name }));
}
