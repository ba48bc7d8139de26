import { useStore } from '../store';

/** A quiet line at the top while the websocket is down and being re-established. */
export function ConnectionBanner() {
  const connection = useStore((s) => s.connection);
  const queued = useStore((s) => s.pending.filter((p) => p.state === 'queued').length);
  if (connection !== 'reconnecting') return null;
  return (
    <div class="connection-banner" role="status" aria-live="polite" data-testid="connection-banner">
      Reconnecting…{queued ? ` ${queued} message${queued > 1 ? 's' : ''} will be sent when the connection is back.` : ''}
    </div>
  );
}
