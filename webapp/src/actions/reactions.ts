// Reactions, pins and saved posts, as Mattermost's web app keeps them: a post's reactions live in
// its `metadata.reactions` (every post the server returns carries them) and change live with
// `reaction_added` / `reaction_removed`; a pin is the post's `is_pinned`, changed by `post_edited`;
// a saved post is a `flagged_post` preference of the user, changed by `preferences_changed` /
// `preferences_deleted` (so a post saved in one browser shows saved in the others).
import type { Post } from '@mattermost/types/posts';
import type { Reaction } from '@mattermost/types/reactions';
import type { PreferenceType } from '@mattermost/types/preferences';
import { client } from '../client';
import { getState, update } from '../store';

export const FLAGGED_POST = 'flagged_post';

/** The emoji offered by the quick picker, by Mattermost name. */
export const QUICK_EMOJI: Array<[string, string]> = [
  ['+1', '👍'],
  ['heart', '❤️'],
  ['smile', '😄'],
  ['tada', '🎉'],
  ['eyes', '👀'],
  ['white_check_mark', '✅'],
];

const UNICODE: Record<string, string> = {
  ...Object.fromEntries(QUICK_EMOJI),
  thumbsup: '👍',
  '-1': '👎',
  thumbsdown: '👎',
  laughing: '😆',
  joy: '😂',
  rocket: '🚀',
  fire: '🔥',
  pray: '🙏',
  ok_hand: '👌',
  thinking: '🤔',
  slightly_smiling_face: '🙂',
  wave: '👋',
  clap: '👏',
  100: '💯',
};

/** How an emoji name is drawn: a system emoji's character, else null (custom: an image). */
export function emojiChar(name: string): string | null {
  return UNICODE[name] ?? null;
}

function withReactions(post: Post, reactions: Reaction[]): Post {
  return {
    ...post,
    metadata: { ...(post.metadata ?? {}), reactions } as Post['metadata'],
  };
}

/** A reaction event: change the post in the store, if it is loaded. */
export function receiveReaction(r: Reaction, added: boolean): void {
  update((s) => {
    const post = s.posts[r.post_id];
    if (!post) return {};
    const same = (x: Reaction) => x.user_id === r.user_id && x.emoji_name === r.emoji_name;
    const old = post.metadata?.reactions ?? [];
    const reactions = added ? (old.some(same) ? old : [...old, r]) : old.filter((x) => !same(x));
    if (reactions === old) return {};
    return { posts: { ...s.posts, [r.post_id]: withReactions(post, reactions) } };
  });
}

/** My reaction with this emoji on, or off if it is there. */
export async function toggleReaction(postId: string, emojiName: string): Promise<void> {
  const s = getState();
  const me = s.me;
  if (!me) return;
  const mine = (s.posts[postId]?.metadata?.reactions ?? []).some((r) => r.user_id === me.id && r.emoji_name === emojiName);
  if (mine) {
    await client.removeReaction(me.id, postId, emojiName);
    receiveReaction({ user_id: me.id, post_id: postId, emoji_name: emojiName, create_at: 0 } as Reaction, false);
  } else {
    const r = await client.addReaction(me.id, postId, emojiName);
    receiveReaction(r, true);
  }
}

export async function setPinned(postId: string, pinned: boolean): Promise<void> {
  await (pinned ? client.pinPost(postId) : client.unpinPost(postId));
  update((s) => {
    const post = s.posts[postId];
    return post ? { posts: { ...s.posts, [postId]: { ...post, is_pinned: pinned } } } : {};
  });
}

/** The user's saved posts, from their preferences (at the start of a session). */
export async function loadSavedPosts(): Promise<void> {
  const prefs = (await client.getMyPreferences()) as unknown as PreferenceType[];
  receivePreferences(prefs, true, true);
}

/** `preferences_changed` / `preferences_deleted`, or the answer of a load. */
export function receivePreferences(prefs: PreferenceType[], present: boolean, replace = false): void {
  const flagged = prefs.filter((p) => p.category === FLAGGED_POST);
  if (!flagged.length && !replace) return;
  update((s) => {
    const saved = replace ? {} : { ...s.saved };
    for (const p of flagged) {
      if (present && p.value !== 'false') saved[p.name] = true;
      else delete saved[p.name];
    }
    return { saved };
  });
}

export async function setSaved(postId: string, save: boolean): Promise<void> {
  const me = getState().me;
  if (!me) return;
  const pref: PreferenceType = { user_id: me.id, category: FLAGGED_POST, name: postId, value: 'true' };
  await (save ? client.savePreferences(me.id, [pref]) : client.deletePreferences(me.id, [pref]));
  receivePreferences([pref], save);
}

/** Reactions of a post grouped by emoji, in the order each emoji was first used. */
export function groupReactions(reactions: Reaction[]): Array<{ name: string; users: string[] }> {
  const groups = new Map<string, string[]>();
  for (const r of [...reactions].sort((a, b) => a.create_at - b.create_at)) {
    groups.set(r.emoji_name, [...(groups.get(r.emoji_name) ?? []), r.user_id]);
  }
  return [...groups.entries()].map(([name, users]) => ({ name, users }));
}
