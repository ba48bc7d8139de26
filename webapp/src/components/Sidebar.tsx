import type { Team } from '@mattermost/types/teams';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useStore } from '../store';
import { navigate } from '../router';
import { channelDisplayName, channelUrl, sidebarCategories } from '../selectors';
import { dmTeammateId } from '../actions/channels';
import { isSystemAdmin, logout } from '../actions/session';
import { askForNotifications, notificationsAllowed, notificationsSupported } from '../actions/notifications';
import { Avatar, PresenceDot } from './Avatar';
import { uploadMyPicture } from '../actions/users';
import { refreshThreadCounts } from '../actions/threads';
import { errorText, toast } from '../actions/errors';
import { ChannelBrowser } from './ChannelBrowser';
import { NewChannelDialog } from './NewChannelDialog';
import { DirectMessageDialog } from './DirectMessageDialog';
import { Icon } from './Icon';
import { AboutDialog } from './AboutDialog';

type Open = '' | 'browse' | 'create' | 'dm' | 'about';

/** The channel list of a team, by category, with unread and mention badges. */
export function Sidebar(props: { team: Team; onNavigate?: () => void; onThreads?: () => void }) {
  const state = useStore((s) => s);
  const [open, setOpen] = useState<Open>('');
  const [collapsed, setCollapsed] = useState<Record<string, boolean>>({});
  const [notif, setNotif] = useState(notificationsAllowed());
  const me = state.me;
  const categories = sidebarCategories(state, props.team.id);
  const threadCounts = state.threadCounts[props.team.id];
  const picture = useRef<HTMLInputElement>(null);
  useEffect(() => refreshThreadCounts(props.team.id), [props.team.id]);
  const pictureChosen = (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (file) uploadMyPicture(file).then(() => toast('Profile picture updated.'), (err) => toast(errorText(err)));
  };
  return (
    <nav class="sidebar" aria-label="Channels">
      <header class="sidebar__header">
        <h1 class="sidebar__team">{props.team.display_name}</h1>
        <div class="sidebar__me">
          {me ? (
            <>
              <Avatar user={me} size={24} /> @{me.username}
            </>
          ) : null}
        </div>
      </header>
      {props.onThreads ? (
        <button type="button" class={`sidebar-channel sidebar__threads${threadCounts?.threads ? ' sidebar-channel--unread' : ''}`} onClick={props.onThreads} data-testid="threads-button">
          <span class="sidebar-channel__name">Threads</span>
          {threadCounts?.mentions ? (
            <span class="badge" aria-label={`${threadCounts.mentions} thread mention${threadCounts.mentions > 1 ? 's' : ''}`}>
              {threadCounts.mentions}
            </span>
          ) : threadCounts?.threads ? (
            <span class="hint" aria-label={`${threadCounts.threads} unread thread${threadCounts.threads > 1 ? 's' : ''}`}>
              {threadCounts.threads}
            </span>
          ) : null}
        </button>
      ) : null}
      <div class="sidebar__actions">
        <button type="button" class="btn btn--small" onClick={() => setOpen('browse')}>
          Browse channels
        </button>
        <button type="button" class="btn btn--small" onClick={() => setOpen('create')}>
          New channel
        </button>
      </div>
      <div class="sidebar__scroll">
        {categories.map((cat) => (
          <section class="sidebar-category" key={cat.id} aria-labelledby={`cat-${cat.id}`}>
            <h2 class="sidebar-category__title" id={`cat-${cat.id}`}>
              <button type="button" aria-expanded={!collapsed[cat.id]} onClick={() => setCollapsed({ ...collapsed, [cat.id]: !collapsed[cat.id] })}>
                {collapsed[cat.id] ? '▸' : '▾'} {cat.name}
              </button>
              {cat.id === 'direct_messages' ? (
                <button type="button" class="sidebar-category__add" aria-label="Write a direct message" title="Write a direct message" onClick={() => setOpen('dm')}>
                  +
                </button>
              ) : null}
            </h2>
            {collapsed[cat.id] ? null : (
              <ul>
                {cat.channels.map((c) => {
                  const u = state.unread[c.id] ?? { msgs: 0, mentions: 0 };
                  const current = c.id === state.currentChannelId;
                  const name = channelDisplayName(state, c);
                  const teammate = c.type === 'D' && me ? dmTeammateId(c, me.id) : '';
                  const href = channelUrl(state, props.team.name, c);
                  return (
                    <li key={c.id}>
                      <a
                        href={href}
                        class={`sidebar-channel${current ? ' sidebar-channel--current' : ''}${u.msgs && !current ? ' sidebar-channel--unread' : ''}`}
                        aria-current={current ? 'page' : undefined}
                        data-channel-name={c.name}
                        onClick={(e) => {
                          e.preventDefault();
                          navigate(href);
                          props.onNavigate?.();
                        }}
                      >
                        <span class="sidebar-channel__icon" aria-hidden="true">
                          {c.type === 'D' ? <PresenceDot status={state.statuses[teammate] ?? 'offline'} /> : c.type === 'G' ? c.display_name.split(', ').length - 1 : c.type === 'P' ? <Icon name="lock" size={13} /> : '#'}
                        </span>
                        <span class="sidebar-channel__name">{name}</span>
                        {u.mentions && !current ? (
                          <span class="badge" aria-label={`${u.mentions} mention${u.mentions > 1 ? 's' : ''}`} data-testid="mention-badge">
                            {u.mentions}
                          </span>
                        ) : u.msgs && !current ? (
                          <span class="visually-hidden">unread</span>
                        ) : null}
                      </a>
                    </li>
                  );
                })}
              </ul>
            )}
          </section>
        ))}
      </div>
      <footer class="sidebar__footer">
        {notificationsSupported() && !notif ? (
          <button type="button" class="btn btn--link" onClick={() => void askForNotifications().then((p) => setNotif(p === 'granted'))}>
            Turn on desktop notifications
          </button>
        ) : null}
        {isSystemAdmin() ? (
          <button type="button" class="btn btn--link" onClick={() => navigate('/admin_console/environment/high_availability')}>
            System Console
          </button>
        ) : null}
        <button type="button" class="btn btn--link" onClick={() => picture.current?.click()}>
          Profile picture
        </button>
        <input ref={picture} type="file" accept="image/png,image/jpeg,image/gif,image/webp" hidden aria-label="Choose a profile picture" onChange={pictureChosen} />
        <button type="button" class="btn btn--link" onClick={() => setOpen('about')}>
          About
        </button>
        <button type="button" class="btn btn--link" onClick={() => void logout()}>
          Log out
        </button>
      </footer>
      {open === 'browse' ? <ChannelBrowser team={props.team} onClose={() => setOpen('')} /> : null}
      {open === 'create' ? <NewChannelDialog team={props.team} onClose={() => setOpen('')} /> : null}
      {open === 'dm' ? <DirectMessageDialog team={props.team} onClose={() => setOpen('')} /> : null}
      {open === 'about' ? <AboutDialog onClose={() => setOpen('')} /> : null}
    </nav>
  );
}
