import { client } from '../client';
import { getState } from '../store';
import { navigate } from '../router';
import { errorText, toast } from './errors';

/** Whether a message is a slash command (`/name ...`), as Mattermost's web app decides. */
export function isCommand(message: string): boolean {
  return /^\/[^\s/]/.test(message);
}

const known = new Map<string, Promise<Set<string>>>();

/** The triggers the team's members may run (built-in, plugin and custom), fetched once per team. */
function triggers(teamId: string): Promise<Set<string>> {
  let p = known.get(teamId);
  if (!p) {
    p = client.getAutocompleteCommandsList(teamId, 0, 200).then(
      (list) => new Set(list.map((c) => c.trigger.toLowerCase())),
      (e) => {
        known.delete(teamId);
        throw e;
      },
    );
    known.set(teamId, p);
  }
  return p;
}

/** Run a slash command in a channel (or a thread). Its answer arrives as a post, or as an
 * `ephemeral_message` only this user sees; a `goto_location` is followed. */
export async function runCommand(channelId: string, rootId: string, command: string): Promise<void> {
  const teamId = getState().currentTeamId;
  try {
    // An unknown trigger is answered here, as the server would (its 404 would be a console error).
    const trigger = command.slice(1).split(/\s/, 1)[0].toLowerCase();
    if (!(await triggers(teamId)).has(trigger)) {
      known.delete(teamId); // a command added since is found next time
      toast(`Command with a trigger of '/${trigger}' not found.`);
      return;
    }
    const res = await client.executeCommand(command, { channel_id: channelId, team_id: teamId, root_id: rootId });
    const go = res?.goto_location ?? '';
    if (go.startsWith('/')) navigate(go);
    else if (/^https?:\/\//.test(go)) window.open(go, '_blank', 'noopener');
  } catch (e) {
    toast(errorText(e));
  }
}
