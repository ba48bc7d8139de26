// Desktop notifications for mentions, only once the user has allowed them (the permission is
// asked for from a button, never on load), and only when the post is not on screen.
import type { Post } from '@mattermost/types/posts';
import { getState } from '../store';
import { channelPath, navigate } from '../router';

export function notificationsSupported(): boolean {
  return typeof Notification !== 'undefined';
}

export function notificationsAllowed(): boolean {
  return notificationsSupported() && Notification.permission === 'granted';
}

export async function askForNotifications(): Promise<NotificationPermission> {
  if (!notificationsSupported()) return 'denied';
  return Notification.requestPermission();
}

export function notifyMention(post: Post, channelName: string, sender: string): void {
  if (!notificationsAllowed()) return;
  const s = getState();
  const channel = s.channels[post.channel_id];
  const team = s.teams[channel?.team_id || s.currentTeamId];
  const n = new Notification(`${sender} in ${channelName || 'a direct message'}`, { body: post.message.slice(0, 200), tag: post.id });
  n.onclick = () => {
    window.focus();
    if (team && channel) navigate(channelPath(team.name, channel.name));
    n.close();
  };
}
