import { useStore } from '../../store';
import { navigate } from '../../router';
import { isSystemAdmin } from '../../actions/session';
import { CONFIG_SECTIONS } from '../../actions/admin';
import { HighAvailability } from './HighAvailability';
import { UsersPage } from './UsersPage';
import { ConfigPage } from './ConfigPage';

const PAGES: { path: string; title: string }[] = [
  { path: 'environment/high_availability', title: 'High Availability' },
  { path: 'user_management/users', title: 'Users' },
  ...CONFIG_SECTIONS.map((s) => ({ path: `site_config/${s.key}`, title: s.title })),
];

/** The System Console's first pages, under /admin_console/... as in Mattermost. */
export function SystemConsole(props: { page: string }) {
  const me = useStore((s) => s.me);
  if (!me || !isSystemAdmin()) {
    return <main class="page-message">Only system admins can open the System Console.</main>;
  }
  let body;
  if (props.page === 'environment/high_availability') body = <HighAvailability />;
  else if (props.page === 'user_management/users') body = <UsersPage />;
  else if (props.page.startsWith('site_config/')) body = <ConfigPage section={props.page.slice('site_config/'.length)} />;
  else body = <p>No such page.</p>;
  return (
    <div class="console">
      <nav class="console__nav" aria-label="System Console">
        <h1>System Console</h1>
        <ul>
          {PAGES.map((p) => (
            <li key={p.path}>
              <a
                href={`/admin_console/${p.path}`}
                aria-current={p.path === props.page ? 'page' : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  navigate(`/admin_console/${p.path}`);
                }}
              >
                {p.title}
              </a>
            </li>
          ))}
        </ul>
        <button type="button" class="btn btn--link" onClick={() => navigate('/')}>
          ← Back to chat
        </button>
      </nav>
      <main class="console__page">{body}</main>
    </div>
  );
}
