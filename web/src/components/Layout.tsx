import type { ComponentChildren } from 'preact';
import { useEffect, useId, useState } from 'preact/hooks';
import { useConsole } from '../state';
import { useRoute, withQuery } from '../router';

interface NavItem {
  href: string;
  label: string;
  match: string;
}

const NAV_GROUPS: { title: string; items: NavItem[] }[] = [
  {
    title: 'Organization Options',
    items: [
      { href: '#/tokens', label: 'API Tokens', match: '/tokens' },
      { href: '#/projects', label: 'Projects', match: '/projects' },
      { href: '#/limits', label: 'Usage Limits', match: '/limits' },
    ],
  },
  {
    title: 'Monitoring',
    items: [
      { href: '#/requests', label: 'Requests', match: '/requests' },
      { href: '#/usage', label: 'Usage', match: '/usage' },
      { href: '#/audit', label: 'Audit', match: '/audit' },
    ],
  },
];

interface LayoutProps {
  path: string;
  onSignOut: () => void;
  children: ComponentChildren;
}

export function Layout({ path, onSignOut, children }: LayoutProps) {
  const { session, projects, selectedProject, selectProject } = useConsole();
  // A project chosen in the header (or a page's Project filter) stays chosen from page to page.
  const project = useRoute().query.get('project');
  const selectId = useId();
  const navId = useId();
  // On narrow screens the sidebar is a menu opened from the header; a navigation closes it.
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [path]);
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => event.key === 'Escape' && setMenuOpen(false);
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return (
    <div class={menuOpen ? 'shell menu-open' : 'shell'}>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <aside class="sidebar" id={navId}>
        <div class="brand">Gatehouse</div>
        <nav aria-label="Console">
          {NAV_GROUPS.map((group) => (
            <div class="nav-group" key={group.title}>
              <h2 class="nav-group-title">{group.title}</h2>
              <ul>
                {group.items.map((item) => {
                  const current = path === item.match || path.startsWith(`${item.match}/`);
                  return (
                    <li key={item.href}>
                      <a
                        href={withQuery(item.href, { project })}
                        class={current ? 'nav-link active' : 'nav-link'}
                        aria-current={current ? 'page' : undefined}
                        onClick={() => setMenuOpen(false)}
                      >
                        {item.label}
                      </a>
                    </li>
                  );
                })}
              </ul>
            </div>
          ))}
        </nav>
      </aside>
      <div class="main-column">
        <header class="topbar">
          <button
            type="button"
            class="menu-button"
            aria-label="Menu"
            aria-expanded={menuOpen}
            aria-controls={navId}
            onClick={() => setMenuOpen((open) => !open)}
          >
            <span aria-hidden="true">☰</span>
          </button>
          <div class="project-context">
            <label for={selectId} class="project-context-text" data-testid="project-context">
              Project: {selectedProject ? selectedProject.projectName : '(none)'} ({session.organizationName})
            </label>
            <select
              id={selectId}
              value={selectedProject?.projectId ?? ''}
              disabled={projects.length === 0}
              onChange={(e) => selectProject(e.currentTarget.value)}
            >
              {projects.length === 0 && <option value="">No projects</option>}
              {projects.map((p) => (
                <option value={p.projectId} key={p.projectId}>
                  {p.projectName}
                  {p.projectActive ? '' : ' (hidden)'}
                </option>
              ))}
            </select>
          </div>
          <div class="session-info">
            <span title={session.apiTokenId}>{session.apiTokenName}</span>
            <button type="button" onClick={onSignOut}>
              SIGN OUT
            </button>
          </div>
        </header>
        <main id="main" class="content" tabIndex={-1}>
          {children}
        </main>
      </div>
    </div>
  );
}
