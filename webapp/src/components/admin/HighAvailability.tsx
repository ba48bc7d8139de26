import { useEffect, useState } from 'preact/hooks';
import { clusterStatus, type NodeRow } from '../../actions/admin';
import { errorText } from '../../actions/errors';

/** How often the node table refreshes. */
const REFRESH_MS = 2000;

/** Each node of the cluster as the node serving this page sees it (Environment > High Availability). */
export function HighAvailability() {
  const [rows, setRows] = useState<NodeRow[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    const refresh = () =>
      clusterStatus().then(
        (r) => {
          if (!live) return;
          // By gossip address: behind a load balancer each refresh may be answered by another
          // node (which lists itself first), and the rows must not move.
          setRows([...r].sort((x, y) => x.ipaddress.localeCompare(y.ipaddress)));
          setError('');
        },
        (e) => live && setError(`This node does not answer: ${errorText(e)}`),
      );
    void refresh();
    const t = setInterval(refresh, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, []);
  const red = rows?.filter((n) => n.status !== 'green').length ?? 0;
  return (
    <section aria-labelledby="ha-title">
      <h2 id="ha-title">High Availability</h2>
      <p>Each node of the cluster, as this node sees it. Refreshes every 2 seconds.</p>
      <p role="status">{error || (rows === null ? 'Loading…' : rows.length === 0 ? 'Clustering is not enabled on this node.' : `${rows.length} nodes, ${red} red.`)}</p>
      {rows && rows.length > 0 ? (
        <div class="table-scroll">
          <table class="table table--ha" data-testid="ha-table">
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Hostname</th>
                <th scope="col">Gossip Address</th>
                <th scope="col">Version</th>
                <th scope="col">Schema</th>
                <th scope="col">Config Hash</th>
                <th scope="col">Node ID</th>
                <th scope="col">Leader</th>
                <th scope="col">Last heard</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((n) => (
                <tr key={n.ipaddress} class={`node node--${n.status}`} data-status={n.status} data-node={n.ipaddress}>
                  <td>
                    <span class="dot" aria-hidden="true" /> {n.status}
                  </td>
                  <td>{n.hostname}</td>
                  <td>{n.ipaddress}</td>
                  <td>{n.version}</td>
                  <td>{n.schema_version}</td>
                  <td>
                    <code title={n.config_hash}>{n.config_hash.slice(0, 12)}</code>
                  </td>
                  <td>
                    <code title={n.id}>{n.id.slice(0, 8)}</code>
                  </td>
                  <td>{n.is_leader ? 'yes' : ''}</td>
                  <td>{n.last_ping_at ? new Date(n.last_ping_at).toLocaleTimeString() : ''}</td>
                  <td class="reason">{n.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
