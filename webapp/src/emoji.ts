// The system emoji people type most, by the names Mattermost uses. Reactions and the emoji
// picker will grow this set (or load the full table lazily) when the server has reactions.
const EMOJI: Record<string, string> = {
  smile: '😄', smiley: '😃', grinning: '😀', laughing: '😆', joy: '😂', wink: '😉', blush: '😊',
  slightly_smiling_face: '🙂', upside_down_face: '🙃', heart_eyes: '😍', thinking: '🤔', neutral_face: '😐',
  disappointed: '😞', cry: '😢', sob: '😭', angry: '😠', scream: '😱', sunglasses: '😎', sweat_smile: '😅',
  '+1': '👍', thumbsup: '👍', '-1': '👎', thumbsdown: '👎', ok_hand: '👌', clap: '👏', wave: '👋', pray: '🙏',
  raised_hands: '🙌', muscle: '💪', eyes: '👀', point_up: '☝️', heart: '❤️', broken_heart: '💔', fire: '🔥',
  tada: '🎉', rocket: '🚀', star: '⭐', sparkles: '✨', white_check_mark: '✅', heavy_check_mark: '✔️',
  x: '❌', warning: '⚠️', question: '❓', exclamation: '❗', bulb: '💡', coffee: '☕', beer: '🍺', pizza: '🍕',
  bug: '🐛', zap: '⚡', boom: '💥', 100: '💯', calendar: '📆', memo: '📝', lock: '🔒', key: '🔑',
};

export function emojiFor(name: string): string | undefined {
  return EMOJI[name];
}

export function emojiNames(): string[] {
  return Object.keys(EMOJI);
}
