import type { Post } from '@mattermost/types/posts';
import { useState } from 'preact/hooks';
import { getState, useStore, update } from '../store';
import { channelPath, navigate } from '../router';
import { renderMarkdown } from '../markdown';
import { deletePost, editPost } from '../actions/posts';
import { errorText, toast } from '../actions/errors';
import { Avatar } from './Avatar';
import { Icon } from './Icon';
import { FileAttachments } from './FileAttachments';
import { Reactions, ReactionPicker } from './Reactions';
import { setPinned, setSaved } from '../actions/reactions';

/** A ~channel link in a message opens that channel of the current team. */
function followChannelLink(e: MouseEvent): void {
  const link = (e.target as HTMLElement | null)?.closest?.('a.channel-link');
  const name = link?.getAttribute('data-channel-name');
  const s = getState();
  const team = s.teams[s.currentTeamId];
  if (!name || !team) return;
  e.preventDefault();
  navigate(channelPath(team.name, name));
}

function time(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** One message: author, time, Markdown, files, and the actions its author may take. */
export function PostItem(props: { post: Post; continuation?: boolean; inThread?: boolean; pendingState?: string; onRetry?: () => void; onDiscard?: () => void }) {
  const p = props.post;
  const user = useStore((s) => s.users[p.user_id]);
  const me = useStore((s) => s.me);
  const replyCount = useStore((s) => (s.threads[p.id]?.length ?? 0) || p.reply_count || 0);
  const saved = useStore((s) => !!s.saved[p.id]);
  const [editing, setEditing] = useState(false);
  const [picking, setPicking] = useState(false);
  const [draft, setDraft] = useState(p.message);
  // A command's answer only this user sees: not on the server, so nothing to act on.
  const ephemeral = p.type === 'system_ephemeral';
  const mine = me?.id === p.user_id;
  const html = renderMarkdown(p.message, me?.username ?? '');
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      await editPost(p.id, draft);
      setEditing(false);
    } catch (err) {
      toast(errorText(err));
    }
  };
  const remove = async () => {
    if (!window.confirm('Delete this message?')) return;
    try {
      await deletePost(p.id);
    } catch (err) {
      toast(errorText(err));
    }
  };
  // Shown in the header, or on their own line for a post that continues its author's previous one.
  const flags = (
    <>
      {ephemeral ? <span class="post__flag" data-testid="ephemeral">Only visible to you</span> : null}
      {p.is_pinned ? <span class="post__flag" data-testid="pinned">Pinned</span> : null}
      {saved ? <span class="post__flag" data-testid="saved">Saved</span> : null}
    </>
  );
  const act = (f: () => Promise<void>) => () => void f().catch((err) => toast(errorText(err)));
  return (
    <article
      class={`post${props.continuation ? ' post--continuation' : ''}${props.pendingState ? ` post--${props.pendingState}` : ''}`}
      data-post-id={p.id}
      data-testid="post"
      aria-label={`${user?.username ?? 'Someone'} at ${time(p.create_at)}`}
    >
      <div class="post__avatar">{props.continuation ? null : <Avatar user={user} size={36} />}</div>
      <div class="post__body">
        {props.continuation && (ephemeral || p.is_pinned || saved) ? <div class="post__flags">{flags}</div> : null}
        {props.continuation ? null : (
          <header class="post__header">
            <span class="post__author">{user?.username ?? '…'}</span>
            {flags}
            <time class="post__time" dateTime={new Date(p.create_at).toISOString()}>
              {time(p.create_at)}
            </time>
            {p.root_id && !props.inThread ? (
              <button type="button" class="btn btn--link post__replied" onClick={() => update(() => ({ openThreadId: p.root_id }))}>
                replied in a thread
              </button>
            ) : null}
          </header>
        )}
        {editing ? (
          <form class="post__edit" onSubmit={save}>
            <label class="visually-hidden" for={`edit-${p.id}`}>
              Edit message
            </label>
            <textarea
              id={`edit-${p.id}`}
              value={draft}
              onInput={(e) => setDraft(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && !e.shiftKey) void save(e);
                if (e.key === 'Escape') setEditing(false);
              }}
            />
            <button type="submit" class="btn btn--small btn--primary">
              Save
            </button>
            <button type="button" class="btn btn--small" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <div class="post__message markdown" onClick={followChannelLink} dangerouslySetInnerHTML={{ __html: html }} />
        )}
        {p.edit_at ? <span class="post__edited">(edited)</span> : null}
        <FileAttachments post={p} />
        <Reactions post={p} />
        {picking ? <ReactionPicker postId={p.id} onClose={() => setPicking(false)} /> : null}
        {props.pendingState === 'queued' ? <p class="post__status">Waiting for the connection…</p> : null}
        {props.pendingState === 'failed' ? (
          <p class="post__status post__status--error">
            Not sent.{' '}
            <button type="button" class="btn btn--link" onClick={props.onRetry}>
              Retry
            </button>{' '}
            <button type="button" class="btn btn--link" onClick={props.onDiscard}>
              Discard
            </button>
          </p>
        ) : null}
        {!props.inThread && !p.root_id && replyCount > 0 ? (
          <button type="button" class="btn btn--link post__replies" onClick={() => update(() => ({ openThreadId: p.id }))}>
            {replyCount} {replyCount === 1 ? 'reply' : 'replies'}
          </button>
        ) : null}
      </div>
      {props.pendingState || ephemeral ? null : (
        <div class="post__actions" role="group" aria-label="Message actions">
          {!props.inThread ? (
            <button type="button" aria-label="Reply" title="Reply" onClick={() => update(() => ({ openThreadId: p.root_id || p.id }))}>
              <Icon name="reply" />
            </button>
          ) : null}
          <button type="button" aria-label="Add reaction" title="Add reaction" onClick={() => setPicking(!picking)}>
            <Icon name="smile" />
          </button>
          <button type="button" aria-label={p.is_pinned ? 'Unpin' : 'Pin'} title={p.is_pinned ? 'Unpin from channel' : 'Pin to channel'} onClick={act(() => setPinned(p.id, !p.is_pinned))}>
            <Icon name="pin" />
          </button>
          <button type="button" aria-label={saved ? 'Unsave' : 'Save'} title={saved ? 'Remove from saved' : 'Save'} onClick={act(() => setSaved(p.id, !saved))}>
            <Icon name={saved ? 'bookmarkFilled' : 'bookmark'} />
          </button>
          {mine ? (
            <>
              <button type="button" aria-label="Edit" title="Edit" onClick={() => { setDraft(p.message); setEditing(true); }}>
                <Icon name="edit" />
              </button>
              <button type="button" aria-label="Delete" title="Delete" onClick={() => void remove()}>
                <Icon name="trash" />
              </button>
            </>
          ) : null}
        </div>
      )}
    </article>
  );
}
