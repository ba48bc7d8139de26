// Markdown as Mattermost renders it: its own CommonMark fork (@mattermost/commonmark) parses
// @mentions, ~channel links, :emoji:, #hashtags, tables and autolinks; raw HTML is dropped (safe
// mode). Mentions of the reader are highlighted; links open in a new tab; images in the text are
// shown as links (the server has no image proxy, and a page must not load arbitrary hosts).
import { HtmlRenderer, Parser } from '@mattermost/commonmark';
import { emojiFor } from './emoji';

const parser = new Parser({ minimumHashtagLength: 3 } as never);

type AnyNode = { mentionName?: string; channelName?: string; emojiName?: string; hashtag?: string; literal?: string | null; destination?: string | null };

class MattermostRenderer extends HtmlRenderer {
  me = '';
}

const renderer = new MattermostRenderer({ safe: true, softbreak: '<br />' });
const r = renderer as unknown as Record<string, unknown> & {
  esc(s: string): string;
  lit(s: string): void;
  tag(name: string, attrs?: string[][], selfClosing?: boolean): void;
  attrs(node: unknown): string[][];
  options: { safe: boolean };
  disableTags: number;
};

r.at_mention = function (node: AnyNode) {
  const name = node.mentionName ?? '';
  const isMe = ['channel', 'all', 'here', renderer.me].includes(name.toLowerCase());
  r.lit(`<span class="mention${isMe ? ' mention--me' : ''}" data-mention-name="${r.esc(name)}">@${r.esc(name)}</span>`);
};

r.channel_link = function (node: AnyNode) {
  const name = node.channelName ?? '';
  r.lit(`<a class="channel-link" data-channel-name="${r.esc(name)}" href="#">~${r.esc(name)}</a>`);
};

r.emoji = function (node: AnyNode) {
  const name = node.emojiName ?? '';
  const glyph = emojiFor(name);
  if (glyph) r.lit(`<span class="emoji" role="img" aria-label=":${r.esc(name)}:" title=":${r.esc(name)}:">${glyph}</span>`);
  else r.lit(r.esc(node.literal ?? `:${name}:`));
};

r.hashtag = function (node: AnyNode) {
  const tag = node.hashtag ?? '';
  r.lit(`<span class="hashtag" data-hashtag="${r.esc(tag)}">#${r.esc(tag)}</span>`);
};

const baseLink = r.link as (node: AnyNode, entering: boolean) => void;
r.link = function (node: AnyNode, entering: boolean) {
  if (entering) {
    const href = node.destination ?? '';
    const safe = /^(https?:|mailto:|\/)/i.test(href);
    r.lit(safe ? `<a href="${r.esc(href)}" target="_blank" rel="noopener noreferrer">` : '<a>');
  } else {
    baseLink.call(renderer, node, false);
  }
};

r.image = function (node: AnyNode, entering: boolean) {
  if (entering) {
    const href = node.destination ?? '';
    const safe = /^https?:/i.test(href);
    r.lit(safe ? `<a class="inline-image-link" href="${r.esc(href)}" target="_blank" rel="noopener noreferrer">` : '<a>');
  } else {
    r.lit('</a>');
  }
};

/** HTML for a message, with mentions of `myUsername` highlighted. */
export function renderMarkdown(text: string, myUsername: string): string {
  renderer.me = myUsername.toLowerCase();
  return renderer.render(parser.parse(text));
}
