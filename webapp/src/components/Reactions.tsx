import type { Post } from '@mattermost/types/posts';
import { useEffect, useRef } from 'preact/hooks';
import { client } from '../client';
import { useStore } from '../store';
import { emojiChar, groupReactions, QUICK_EMOJI, toggleReaction } from '../actions/reactions';
import { errorText, toast } from '../actions/errors';

function toggle(postId: string, name: string): void {
  toggleReaction(postId, name).catch((err) => toast(errorText(err)));
}

/** An emoji by name: its character, a custom emoji's image (from the post's metadata), or :name:. */
function Emoji(props: { name: string; post: Post }) {
  const ch = emojiChar(props.name);
  if (ch) return <span class="emoji">{ch}</span>;
  const custom = props.post.metadata?.emojis?.find((e) => e.name === props.name);
  if (custom) return <img class="emoji emoji--custom" src={client.getCustomEmojiImageUrl(custom.id)} alt={`:${props.name}:`} />;
  return <span class="emoji">:{props.name}:</span>;
}

/** The post's reactions, one chip per emoji with its count; mine are highlighted, a click toggles mine. */
export function Reactions(props: { post: Post }) {
  const me = useStore((s) => s.me);
  const users = useStore((s) => s.users);
  const groups = groupReactions(props.post.metadata?.reactions ?? []);
  if (!groups.length) return null;
  return (
    <div class="reactions" data-testid="reactions">
      {groups.map((g) => {
        const mine = !!me && g.users.includes(me.id);
        const who = g.users.map((id) => users[id]?.username ?? 'someone').join(', ');
        return (
          <button
            type="button"
            class={`reaction${mine ? ' reaction--mine' : ''}`}
            data-emoji={g.name}
            aria-pressed={mine}
            title={`${who} reacted with :${g.name}:`}
            onClick={() => toggle(props.post.id, g.name)}
          >
            <Emoji name={g.name} post={props.post} /> <span class="reaction__count">{g.users.length}</span>
          </button>
        );
      })}
    </div>
  );
}

/** A row of common emoji; Escape or a pick closes it. */
export function ReactionPicker(props: { postId: string; onClose: () => void }) {
  const first = useRef<HTMLButtonElement>(null);
  useEffect(() => first.current?.focus(), []);
  return (
    <div class="reaction-picker" role="menu" aria-label="Pick a reaction" onKeyDown={(e) => e.key === 'Escape' && props.onClose()}>
      {QUICK_EMOJI.map(([name, ch], i) => (
        <button
          type="button"
          role="menuitem"
          ref={i === 0 ? first : undefined}
          data-emoji={name}
          title={`:${name}:`}
          aria-label={name}
          onClick={() => {
            toggle(props.postId, name);
            props.onClose();
          }}
        >
          {ch}
        </button>
      ))}
    </div>
  );
}
