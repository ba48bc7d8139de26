import type { Team } from '@mattermost/types/teams';
import { useState } from 'preact/hooks';
import { channelNameFrom, createChannel } from '../actions/channels';
import { errorText } from '../actions/errors';
import { channelPath, navigate } from '../router';
import { Dialog } from './Dialog';

export function NewChannelDialog(props: { team: Team; onClose: () => void }) {
  const [displayName, setDisplayName] = useState('');
  const [purpose, setPurpose] = useState('');
  const [isPrivate, setPrivate] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const c = await createChannel(props.team.id, displayName.trim(), channelNameFrom(displayName), isPrivate ? 'P' : 'O', purpose.trim());
      navigate(channelPath(props.team.name, c.name));
      props.onClose();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <Dialog title="Create a channel" onClose={props.onClose}>
      <form onSubmit={submit}>
        <label>
          Name
          <input name="channel_display_name" value={displayName} maxLength={64} onInput={(e) => setDisplayName(e.currentTarget.value)} required />
        </label>
        <label>
          Purpose (optional)
          <input name="channel_purpose" value={purpose} maxLength={250} onInput={(e) => setPurpose(e.currentTarget.value)} />
        </label>
        <label class="checkbox">
          <input type="checkbox" checked={isPrivate} onChange={(e) => setPrivate(e.currentTarget.checked)} /> Private channel
        </label>
        {error ? <p class="form-error" role="alert">{error}</p> : null}
        <button type="submit" class="btn btn--primary" disabled={busy || !displayName.trim()}>
          Create channel
        </button>
      </form>
    </Dialog>
  );
}
