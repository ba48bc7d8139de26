import type { ServerChannel as Channel } from '@mattermost/types/channels';
import type { Team } from '@mattermost/types/teams';
import { useStore } from '../store';
import { joinChannel } from '../actions/channels';
import { errorText, toast } from '../actions/errors';
import { channelDisplayName } from '../selectors';
import { PostList } from './PostList';
import { PostBox } from './PostBox';
import { ChannelHeader } from './ChannelHeader';
import type { PostLists } from './TeamView';

/** The open channel: header, messages, and the box to write in (or a Join button). */
export function ChannelView(props: { channel: Channel; team: Team; lists: PostLists; onMenu: () => void }) {
  const member = useStore((s) => s.myChannelIds.includes(props.channel.id));
  const name = useStore((s) => channelDisplayName(s, props.channel));
  return (
    <main class="channel-view" aria-label={`Channel ${name}`}>
      <ChannelHeader channel={props.channel} team={props.team} lists={props.lists} onMenu={props.onMenu} />
      {member ? (
        <>
          <PostList channelId={props.channel.id} />
          <PostBox channelId={props.channel.id} teamId={props.team.id} placeholder={`Write to ${props.channel.type === 'D' ? '@' : props.channel.type === 'G' ? '' : '~'}${name}`} />
        </>
      ) : (
        <div class="channel-view__join">
          <p>You are not a member of this channel.</p>
          <button type="button" class="btn btn--primary" onClick={() => joinChannel(props.channel).catch((e) => toast(errorText(e)))}>
            Join channel
          </button>
        </div>
      )}
    </main>
  );
}
