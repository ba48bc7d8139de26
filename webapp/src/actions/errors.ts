import { update } from '../store';

let nextToast = 1;

/** A short message at the bottom of the screen, gone after a few seconds. */
export function toast(text: string): void {
  const id = nextToast++;
  update((s) => ({ toasts: [...s.toasts, { id, text }] }));
  setTimeout(() => update((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })), 5000);
}

/** The text of an error from Client4 (Mattermost's JSON error shape) or anything else. */
export function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'message' in e && typeof (e as { message: unknown }).message === 'string') {
    return (e as { message: string }).message;
  }
  return String(e);
}

/** HTTP status of a Client4 error, 0 for network failures. */
export function errorStatus(e: unknown): number {
  if (e && typeof e === 'object' && 'status_code' in e) return Number((e as { status_code: unknown }).status_code) || 0;
  return 0;
}

/** Whether a failed request may succeed if sent again: no answer, or the node behind the balancer was going away. */
export function isRetryable(e: unknown): boolean {
  const status = errorStatus(e);
  return status === 0 || status === 502 || status === 503 || status === 504;
}
