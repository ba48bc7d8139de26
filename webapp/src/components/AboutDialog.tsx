import { useStore } from '../store';
import { Dialog } from './Dialog';

/** Like Mattermost's About dialog: the server version and the node this browser is talking to. */
export function AboutDialog(props: { onClose: () => void }) {
  const hostname = useStore((s) => s.serverHostname);
  const version = useStore((s) => s.serverVersion || s.config.Version || '');
  const connectionId = useStore((s) => s.connectionId);
  const connection = useStore((s) => s.connection);
  return (
    <Dialog title="About Starling" onClose={props.onClose}>
      <dl class="about">
        <dt>Server version</dt>
        <dd>{version}</dd>
        <dt>Websocket node (hostname)</dt>
        <dd data-testid="about-hostname">{hostname || '—'}</dd>
        <dt>Connection</dt>
        <dd>
          {connection}
          {connectionId ? ` (${connectionId})` : ''}
        </dd>
      </dl>
    </Dialog>
  );
}
