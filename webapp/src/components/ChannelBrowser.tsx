import type { ServerChannel as Channel } from '@mattermost/types/channels';
import type { Team } from '@mattermost/types/teams';
import { useEffect, useState } from 'preact/hooks';
import { browseChannels, joinChannel } from '../actions/channels';
import { errorText } from '../actions/errors';
import { channelPath, navigate } from '../router';
import { useStore } from '../store';
import { Dialog } from './Dialog';

/** Every public channel of the team; join one, or open one you are in. */
export function ChannelBrowser(props: { team: Team; onClose: () => void }) {
  const myIds = useStore((s) => s.myChannelIds);
  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [filter, setFilter] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    browseChannels(props.team.id).then(setChannels, (e) => setError(errorText(e)));
  }, [props.team.id]);
  const shown = (channels ?? []).filter((c) => c.display_name.toLowerCase().includes(filter.toLowerCase()) || c.name.includes(filter.toLowerCase()));
  const open = async (c: Channel) => {
    try {
      if (!myIds.includes(c.id)) await joinChannel(c);
      navigate(channelPath(props.team.name, c.name));
      props.onClose();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <Dialog title="Browse channels" onClose={props.onClose} wide>
      <label class="visually-hidden" for="channel-filter">
        Search channels
      </label>
      <input id="channel-filter" type="search" placeholder="Search channels" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      {error ? <p class="form-error" role="alert">{error}</p> : null}
      {channels === null ? <p>Loading…</p> : null}
      <ul class="browse-list">
        {shown.map((c) => (
          <li key={c.id}>
            <div>
              <strong># {c.display_name}</strong>
              {c.purpose ? <p class="hint">{c.purpose}</p> : null}
            </div>
            <button type="button" class="btn btn--small" onClick={() => void open(c)}>
              {myIds.includes(c.id) ? 'View' : 'Join'}
            </button>
          </li>
        ))}
      </ul>
    </Dialog>
  );
}
