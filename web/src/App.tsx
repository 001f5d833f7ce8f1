import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as api from './api';
import { Layout } from './components/Layout';
import { currentLocation, navigate, setQuery, useRoute, withQuery } from './router';
import { ConsoleContext, type ConsoleState, type ToastMessage } from './state';
import { AuditPage } from './pages/AuditPage';
import { LimitsPage } from './pages/LimitsPage';
import { ProjectsPage } from './pages/ProjectsPage';
import { RequestsPage } from './pages/RequestsPage';
import { SignInPage } from './pages/SignInPage';
import { TokensPage } from './pages/TokensPage';
import { UsagePage } from './pages/UsagePage';

// A hint (not a credential: the session itself is an HttpOnly cookie) that this browser
// signed in before, so a fresh visit goes straight to the sign-in page without a 401 probe.
const SIGNED_IN_HINT = 'gatehouse.signedIn';
const PROJECT_KEY = 'gatehouse.projectId';

/** Where to go after signing in: the page asked for while signed out, if it is a console page. */
function afterSignIn(next: string | null): string {
  return next?.startsWith('/') && !next.startsWith('/signin') ? next : '/tokens';
}

type SessionState = { kind: 'loading' } | { kind: 'signedOut' } | { kind: 'signedIn'; session: api.Session };

export function App() {
  const route = useRoute();
  const [state, setState] = useState<SessionState>({ kind: 'loading' });
  const [projects, setProjects] = useState<api.Project[]>([]);
  // The header's project: the URL's `project` (a reload or shared link shows the same one), else
  // the one this browser chose last.
  const [rememberedProjectId, setRememberedProjectId] = useState<string>(() => localStorage.getItem(PROJECT_KEY) ?? '');
  const projectId = route.query.get('project') || rememberedProjectId;
  const [toasts, setToasts] = useState<ToastMessage[]>([]);
  const toastSeqRef = useRef(0);

  const toast = useCallback((text: string, kind: 'info' | 'error' = 'info') => {
    const id = ++toastSeqRef.current;
    setToasts((list) => [...list, { id, text, kind }]);
    window.setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), kind === 'error' ? 8000 : 4000);
  }, []);

  // Whether a session is live: several calls in flight may each answer 401 when it ends, and a
  // call overtaken by SIGN OUT answers 401 too; only the first 401 of a live session ends it.
  const liveRef = useRef(false);

  const acceptSession = useCallback((session: api.Session) => {
    liveRef.current = true;
    api.setCsrfToken(session.csrfToken);
    localStorage.setItem(SIGNED_IN_HINT, '1');
    setState({ kind: 'signedIn', session });
  }, []);

  const dropSession = useCallback(() => {
    liveRef.current = false;
    api.setCsrfToken('');
    localStorage.removeItem(SIGNED_IN_HINT);
    setProjects([]);
    setState({ kind: 'signedOut' });
  }, []);

  useEffect(() => {
    const onEnded = () => {
      if (!liveRef.current) return;
      dropSession();
      toast('Your session has ended. Sign in again.', 'error');
    };
    window.addEventListener(api.SESSION_ENDED_EVENT, onEnded);
    return () => {
      window.removeEventListener(api.SESSION_ENDED_EVENT, onEnded);
    };
  }, [dropSession, toast]);

  useEffect(() => {
    if (!localStorage.getItem(SIGNED_IN_HINT)) {
      setState({ kind: 'signedOut' });
      return;
    }
    api.getSession().then(acceptSession, dropSession);
  }, [acceptSession, dropSession]);

  const fetchProjects = useCallback(async () => {
    const list = await api.listProjects();
    setProjects(list);
    return list;
  }, []);

  const reloadProjects = useCallback(async () => {
    try {
      await fetchProjects();
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 401) dropSession();
      else toast(`Could not load projects: ${api.errorText(error)}`, 'error');
    }
  }, [dropSession, fetchProjects, toast]);

  useEffect(() => {
    if (state.kind === 'signedIn') void reloadProjects();
  }, [state.kind, reloadProjects]);

  const next = route.query.get('next');
  useEffect(() => {
    if (state.kind === 'signedOut' && route.path !== '/signin') {
      // Remember the page asked for (a deep link, or where the session ended) to return there.
      const asked = currentLocation();
      navigate(asked ? withQuery('/signin', { next: asked }) : '/signin', { replace: true });
    }
    if (state.kind === 'signedIn' && route.path === '/signin') navigate(afterSignIn(next), { replace: true });
  }, [state.kind, route.path, next]);

  const selectProject = useCallback((id: string) => {
    localStorage.setItem(PROJECT_KEY, id);
    setRememberedProjectId(id);
    // The paged views it filters start again at their first page.
    const paged = /^\/(tokens\/project|requests)(\?|$)/.test(currentLocation());
    setQuery(paged ? { project: id, page: null } : { project: id });
  }, []);

  const selectedProject = useMemo(
    () =>
      projects.find((p) => p.projectId === projectId) ?? projects.find((p) => p.projectActive) ?? projects[0] ?? null,
    [projects, projectId],
  );

  const signOut = async () => {
    liveRef.current = false;
    try {
      await api.signOut();
    } catch {
      // The session may already be gone; signing out locally is what matters.
    }
    dropSession();
  };

  const toastRegion = (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`}>
          {t.text}
        </div>
      ))}
    </div>
  );

  if (state.kind === 'loading') return <div class="loading">Loading…</div>;
  if (state.kind === 'signedOut') {
    return (
      <>
        <SignInPage onSignedIn={acceptSession} />
        {toastRegion}
      </>
    );
  }

  const context: ConsoleState = {
    session: state.session,
    projects,
    selectedProject,
    selectProject,
    reloadProjects,
    fetchProjects,
    toast,
  };

  let page;
  const [, section, sub] = route.path.split('/');
  switch (section) {
    case 'projects':
      page = <ProjectsPage />;
      break;
    case 'requests':
      page = <RequestsPage query={route.query} />;
      break;
    case 'usage':
      page = <UsagePage query={route.query} />;
      break;
    case 'limits':
      page = <LimitsPage query={route.query} />;
      break;
    case 'audit':
      page = <AuditPage query={route.query} />;
      break;
    default:
      page = (
        <TokensPage
          key={sub === 'project' ? 'project' : 'organization'}
          view={sub === 'project' ? 'project' : 'organization'}
          query={route.query}
        />
      );
  }

  return (
    <ConsoleContext.Provider value={context}>
      <Layout path={route.path} onSignOut={() => void signOut()}>
        {page}
      </Layout>
      {toastRegion}
    </ConsoleContext.Provider>
  );
}
