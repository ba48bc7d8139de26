import type { Post } from '@mattermost/types/posts';
import { useEffect, useState } from 'preact/hooks';
import { getState, update, useStore } from '../store';
import { channelPath, navigate, type Route } from '../router';
import { channelDisplayName } from '../selectors';
import { DEFAULT_CHANNEL, dmTeammateId, ensureMyChannels, openChannel, openChannelById, resolveDirectChannel } from '../actions/channels';
import { pinnedPosts, savedPosts, searchPosts } from '../actions/posts';
import { errorText } from '../actions/errors';
import { TeamSidebar } from './TeamSidebar';
import { Sidebar } from './Sidebar';
import { ChannelView } from './ChannelView';
import { ThreadPane } from './ThreadPane';
import { SearchResults } from './SearchResults';
import { ThreadsPane } from './ThreadsPane';

interface PostPane {
  title: string;
  label: string;
  results: Post[] | null;
}

/** What the channel header can open beside the channel. */
export interface PostLists {
  search: (terms: string) => void;
  pinned: () => void;
  saved: () => void;
}

/** Remember each user's last place, so `/` opens it again (as Mattermost does). */
function lastKey(): string {
  return `starling.last.${getState().me?.id ?? ''}`;
}

export function lastPath(): string | null {
  return localStorage.getItem(lastKey());
}

/** A team's screen: team switcher, channel sidebar, the open channel, and a thread or search beside it. */
export function TeamView(props: { route: Extract<Route, { kind: 'channel' | 'dm' | 'team' }> }) {
  const route = props.route;
  const teamsLoaded = useStore((s) => s.myTeamIds.length);
  const team = useStore((s) => s.myTeamIds.map((id) => s.teams[id]).find((t) => t?.name === route.team));
  const channel = useStore((s) => s.channels[s.currentChannelId]);
  const threadId = useStore((s) => s.openThreadId);
  const pageError = useStore((s) => s.pageError);
  const [search, setSearch] = useState<PostPane | null>(null);
  const [menuOpen, setMenuOpen] = useState(false);
  const [threadsOpen, setThreadsOpen] = useState(false);

  useEffect(() => {
    if (!team) {
      if (teamsLoaded === 0) navigate('/select_team', true);
      else update(() => ({ pageError: `You are not a member of a team called "${route.team}".` }));
      return;
    }
    update(() => ({ currentTeamId: team.id }));
    void ensureMyChannels(team.id).then(() => {
      if (route.kind === 'team') navigate(channelPath(team.name, DEFAULT_CHANNEL), true);
    });
  }, [team?.id, teamsLoaded]);

  useEffect(() => {
    if (!team) return;
    localStorage.setItem(lastKey(), window.location.pathname);
    // Until the channel the path names is open, show no channel: a message typed meanwhile must
    // not go to the one that was on screen before.
    const st = getState();
    const shown = st.channels[st.currentChannelId];
    const teammate = shown?.type === 'D' && st.me ? st.users[dmTeammateId(shown, st.me.id)]?.username : undefined;
    const stillRight = route.kind === 'channel' ? shown?.name === route.channel : route.kind === 'dm' ? teammate === route.username : false;
    if (!stillRight) update(() => ({ currentChannelId: '' }));
    if (route.kind === 'channel') void openChannel(team.id, route.channel);
    if (route.kind === 'dm') {
      void resolveDirectChannel(route.username).then((c) => c && openChannelById(c.id));
    }
  }, [team?.id, route.kind, route.kind === 'channel' ? route.channel : route.kind === 'dm' ? route.username : '']);

  useEffect(() => {
    document.title = channel ? `${channel.display_name || 'Direct message'} - ${team?.display_name ?? ''} Starling` : 'Starling';
  }, [channel?.id, team?.id]);

  /** Show a list of posts beside the channel, in place of a thread. */
  const showPosts = (title: string, label: string, load: () => Promise<Post[]>) => {
    setThreadsOpen(false);
    setSearch({ title, label, results: null });
    update(() => ({ openThreadId: '' }));
    load().then(
      (results) => setSearch({ title, label, results }),
      (e) => setSearch({ title: `${title} (${errorText(e)})`, label, results: [] }),
    );
  };
  const lists: PostLists = {
    search: (terms) => team && showPosts(`Search: ${terms}`, 'Search results', () => searchPosts(team.id, terms)),
    pinned: () => channel && showPosts(`Pinned in ${channelDisplayName(getState(), channel)}`, 'Pinned messages', () => pinnedPosts(channel.id)),
    saved: () => showPosts('Saved messages', 'Saved messages', savedPosts),
  };

  if (!team) return <main class="page-message">{pageError || 'Loading…'}</main>;
  return (
    <div class={`team-view${threadId || search || threadsOpen ? ' team-view--with-pane' : ''}${menuOpen ? ' team-view--menu' : ''}`}>
      <TeamSidebar currentTeamId={team.id} />
      <Sidebar
        team={team}
        onNavigate={() => setMenuOpen(false)}
        onThreads={() => {
          setSearch(null);
          update(() => ({ openThreadId: '' }));
          setThreadsOpen(true);
          setMenuOpen(false);
        }}
      />
      {pageError ? (
        <main class="page-message" role="alert">
          {pageError}
        </main>
      ) : channel ? (
        <ChannelView channel={channel} team={team} lists={lists} onMenu={() => setMenuOpen(!menuOpen)} />
      ) : (
        <main class="page-message">Loading…</main>
      )}
      {threadId ? (
        <ThreadPane rootId={threadId} teamId={team.id} />
      ) : search ? (
        <SearchResults {...search} onClose={() => setSearch(null)} />
      ) : threadsOpen ? (
        <ThreadsPane teamId={team.id} onClose={() => setThreadsOpen(false)} />
      ) : null}
    </div>
  );
}
