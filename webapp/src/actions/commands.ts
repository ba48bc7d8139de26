import { client } from '../client';
import { getState } from '../store';
import { navigate } from '../router';
import { errorText, toast } from './errors';

/** Whether a message is a slash command (`/name ...`), as Mattermost's web app decides. */
export function isCommand(message: string): boolean {
  return /^\/[^\s/]/.test(message);
}

/** Run a slash command in a channel (or a thread). Its answer arrives as a post, or as an
 * `ephemeral_message` only this user sees; a `goto_location` is followed. */
export async function runCommand(channelId: string, rootId: string, command: string): Promise<void> {
  try {
    const res = await client.executeCommand(command, { channel_id: channelId, team_id: getState().currentTeamId, root_id: rootId });
    const go = res?.goto_location ?? '';
    if (go.startsWith('/')) navigate(go);
    else if (/^https?:\/\//.test(go)) window.open(go, '_blank', 'noopener');
  } catch (e) {
    toast(errorText(e));
  }
}
