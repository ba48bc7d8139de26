import { useEffect } from 'preact/hooks';
import { useStore } from '../store';
import { navigate, parseRoute } from '../router';
import { DEFAULT_CHANNEL } from '../actions/channels';
import { LoginPage } from './LoginPage';
import { SignupPage } from './SignupPage';
import { SelectTeamPage } from './SelectTeamPage';
import { TeamView, lastPath } from './TeamView';
import { ConnectionBanner } from './ConnectionBanner';
import { Toasts } from './Toasts';
import { SystemConsole } from './admin/SystemConsole';

export function App() {
  const booted = useStore((s) => s.booted);
  const me = useStore((s) => s.me);
  const path = useStore((s) => s.path);
  const firstTeam = useStore((s) => s.teams[s.myTeamIds[0]]);
  const route = parseRoute(path);
  // The System Console asks for a login in place, so the page opens after it.
  const needsLogin = booted && !me && route.kind !== 'login' && route.kind !== 'signup' && route.kind !== 'admin';

  useEffect(() => {
    if (needsLogin) navigate('/login', true);
    else if (booted && me && (route.kind === 'login' || route.kind === 'signup')) navigate('/', true);
    else if (booted && me && route.kind === 'root') {
      const last = lastPath();
      if (last && last !== '/') navigate(last, true);
      else if (firstTeam) navigate(`/${firstTeam.name}/channels/${DEFAULT_CHANNEL}`, true);
      else navigate('/select_team', true);
    }
  }, [booted, me?.id, path, firstTeam?.id]);

  if (!booted) return <main class="page-message">Loading…</main>;
  let page;
  if (!me) page = route.kind === 'signup' ? <SignupPage /> : <LoginPage note={route.kind === 'admin' ? 'Log in as a system admin.' : ''}/>;
  else if (route.kind === 'select_team' || route.kind === 'create_team') page = <SelectTeamPage />;
  else if (route.kind === 'admin') page = <SystemConsole page={route.page} />;
  else if (route.kind === 'channel' || route.kind === 'dm' || route.kind === 'team') page = <TeamView route={route} />;
  else page = <main class="page-message">Loading…</main>;
  return (
    <>
      <ConnectionBanner />
      {page}
      <Toasts />
    </>
  );
}
