import type { UserThreadWithPost } from '@mattermost/types/threads';
import { useEffect, useState } from 'preact/hooks';
import { update, useStore } from '../store';
import { loadThreads, markThreadRead } from '../actions/threads';
import { errorText, toast } from '../actions/errors';
import { Avatar } from './Avatar';

/** The threads the user follows in a team, newest reply first, with their unread replies and
 * mentions (Mattermost's Threads view); each opens its thread, which marks it read. */
export function ThreadsPane(props: { teamId: string; onClose: () => void }) {
  const [threads, setThreads] = useState<UserThreadWithPost[] | null>(null);
  const [error, setError] = useState('');
  const channels = useStore((s) => s.channels);
  const users = useStore((s) => s.users);
  const counts = useStore((s) => s.threadCounts[props.teamId]);
  useEffect(() => {
    loadThreads(props.teamId).then(setThreads, (e) => {
      setError(errorText(e));
      setThreads([]);
    });
  }, [props.teamId, counts?.threads, counts?.mentions]);
  const open = (t: UserThreadWithPost) => {
    update(() => ({ openThreadId: t.id }));
    if (t.unread_replies || t.unread_mentions) markThreadRead(props.teamId, t.id).catch((e) => toast(errorText(e)));
  };
  return (
    <aside class="thread-pane" aria-label="Followed threads" data-testid="threads-pane">
      <header class="thread-pane__header">
        <h2>Threads</h2>
        <button type="button" class="btn btn--link" aria-label="Close threads" onClick={props.onClose}>
          ×
        </button>
      </header>
      <div class="thread-pane__posts">
        {threads === null ? <p>Loading…</p> : null}
        {error ? <p role="alert">{error}</p> : null}
        {threads?.length === 0 && !error ? <p>No followed threads yet: reply to a message to follow its thread.</p> : null}
        <ul class="threads-list">
          {threads?.map((t) => {
            const unread = t.unread_replies > 0;
            const author = users[t.post.user_id];
            return (
              <li key={t.id}>
                <button type="button" class={`threads-item${unread ? ' threads-item--unread' : ''}`} onClick={() => open(t)} data-thread-id={t.id}>
                  <span class="threads-item__head">
                    <Avatar user={author} size={20} showStatus={false} /> <b>{author?.username ?? ''}</b>
                    <span class="hint"> in ~{channels[t.post.channel_id]?.display_name ?? ''}</span>
                  </span>
                  <span class="threads-item__text">{t.post.message.slice(0, 140) || '(no text)'}</span>
                  <span class="hint">
                    {t.reply_count} {t.reply_count === 1 ? 'reply' : 'replies'}
                    {unread ? `, ${t.unread_replies} new` : ''}
                    {t.unread_mentions ? ` (${t.unread_mentions} @)` : ''}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      </div>
    </aside>
  );
}
