import type { ServerChannel as Channel } from '@mattermost/types/channels';
import type { Team } from '@mattermost/types/teams';
import { useState } from 'preact/hooks';
import { useStore } from '../store';
import { channelDisplayName } from '../selectors';
import { leaveChannel, DEFAULT_CHANNEL } from '../actions/channels';
import { Icon } from './Icon';
import type { PostLists } from './TeamView';
import { errorText, toast } from '../actions/errors';

/** The channel's name and purpose, search, pinned and saved messages, and leave. */
export function ChannelHeader(props: { channel: Channel; team: Team; lists: PostLists; onMenu: () => void }) {
  const name = useStore((s) => channelDisplayName(s, props.channel));
  const hostname = useStore((s) => s.serverHostname);
  const [terms, setTerms] = useState('');
  const c = props.channel;
  const canLeave = (c.type === 'O' || c.type === 'P') && c.name !== DEFAULT_CHANNEL;
  return (
    <header class="channel-header">
      <button type="button" class="channel-header__menu" aria-label="Show channels" onClick={props.onMenu}>
        <Icon name="menu" size={22} />
      </button>
      <div class="channel-header__title">
        <h2 data-testid="channel-title">
          {c.type === 'D' ? '@' : c.type === 'G' ? '' : c.type === 'P' ? <Icon name="lock" size={15} /> : '# '}
          {name}
        </h2>
        {c.purpose || c.header ? <p class="channel-header__purpose">{c.header || c.purpose}</p> : null}
      </div>
      <form
        class="channel-header__search"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          if (terms.trim()) props.lists.search(terms.trim());
        }}
      >
        <label class="visually-hidden" for="search-box">
          Search messages
        </label>
        <input id="search-box" type="search" placeholder="Search" value={terms} onInput={(e) => setTerms(e.currentTarget.value)} />
      </form>
      <button type="button" class="channel-header__icon" aria-label="Pinned messages" title="Pinned messages" onClick={props.lists.pinned}>
        <Icon name="pin" />
      </button>
      <button type="button" class="channel-header__icon" aria-label="Saved messages" title="Saved messages" onClick={props.lists.saved}>
        <Icon name="bookmark" />
      </button>
      <span class="channel-header__node" title="The server node this browser's websocket is on" data-testid="ws-node">
        {hostname ? `node: ${hostname}` : ''}
      </span>
      {canLeave ? (
        <button type="button" class="btn btn--small" onClick={() => leaveChannel(c, props.team.name).catch((e) => toast(errorText(e)))}>
          Leave
        </button>
      ) : null}
    </header>
  );
}
