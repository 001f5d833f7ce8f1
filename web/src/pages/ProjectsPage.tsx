import { useState } from 'preact/hooks';
import * as api from '../api';
import { Dialog } from '../components/Dialog';
import { SecretDialog } from '../components/SecretDialog';
import { DataTable } from '../components/TableState';
import { formatDateTime, formatDay } from '../format';
import { useResource } from '../hooks';
import { useConsole } from '../state';
import { ProjectForm } from './ProjectForm';

type Editing = { kind: 'none' } | { kind: 'create' } | { kind: 'update'; project: api.Project };

export function ProjectsPage() {
  const { fetchProjects, selectProject, toast } = useConsole();
  const [editing, setEditing] = useState<Editing>({ kind: 'none' });
  const [deleting, setDeleting] = useState<api.Project | null>(null);
  const [deleteError, setDeleteError] = useState('');
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);

  // Projects can change outside this browser (API, CLI): the page loads the current list, which
  // also refreshes the header's.
  const list = useResource(fetchProjects);
  const projects = list.data ?? [];

  const onCreated = (project: api.Project, token?: api.CreatedToken) => {
    setEditing({ kind: 'none' });
    list.reload();
    selectProject(project.projectId);
    if (token?.secret) setCreated({ name: `${project.projectName} / ${token.name}`, secret: token.secret });
    else toast(`Project ${project.projectName} created.`);
  };

  const onUpdated = (project: api.Project) => {
    setEditing({ kind: 'none' });
    list.reload();
    toast(`Project ${project.projectName} updated.`);
  };

  const confirmDelete = async () => {
    if (!deleting) return;
    try {
      await api.deleteProject(deleting.projectId);
      toast(`Project ${deleting.projectName} deleted.`);
      setDeleting(null);
      list.reload();
    } catch (e) {
      setDeleteError(api.errorText(e));
    }
  };

  return (
    <section class="page" aria-labelledby="projects-title">
      <h1 id="projects-title">Projects</h1>
      <div class="toolbar">
        <button type="button" class="btn-primary" onClick={() => setEditing({ kind: 'create' })}>
          CREATE NEW
        </button>
      </div>
      <DataTable
        resource={list}
        noun="projects"
        rows={projects.length}
        filtered={false}
        emptyText="No projects yet. Create one to issue project Api Tokens."
      >
        <table class="data-table" aria-labelledby="projects-title">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Description</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {projects.map((project) => (
              <tr key={project.projectId} data-project-id={project.projectId}>
                <td class="cell-name" title={project.projectName}>
                  {project.projectName}
                </td>
                <td class="cell-description" title={project.projectDescription || undefined}>
                  {project.projectDescription}
                </td>
                <td>
                  <span class={project.projectActive ? 'badge badge-active' : 'badge badge-hidden'}>
                    {project.projectActive ? 'Active' : 'Hidden'}
                  </span>
                </td>
                <td class="nowrap" title={formatDateTime(project.createdAt)}>
                  {formatDay(project.createdAt)}
                </td>
                <td class="cell-actions">
                  <button
                    type="button"
                    class="btn-small"
                    aria-label={`Update project ${project.projectName}`}
                    onClick={() => setEditing({ kind: 'update', project })}
                  >
                    UPDATE
                  </button>
                  <button
                    type="button"
                    class="btn-small btn-danger"
                    aria-label={`Delete project ${project.projectName}`}
                    onClick={() => {
                      setDeleteError('');
                      setDeleting(project);
                    }}
                  >
                    DELETE
                  </button>
                  <a
                    class="btn-small btn-link"
                    aria-label={`Usage limits of project ${project.projectName}`}
                    href={`#/limits?project=${encodeURIComponent(project.projectId)}`}
                  >
                    LIMITS
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </DataTable>

      {editing.kind !== 'none' && (
        <ProjectForm
          project={editing.kind === 'update' ? editing.project : undefined}
          onCreated={onCreated}
          onUpdated={onUpdated}
          onCancel={() => setEditing({ kind: 'none' })}
        />
      )}
      {deleting && (
        <Dialog title="Delete project" onClose={() => setDeleting(null)}>
          <p>
            Delete project <strong>{deleting.projectName}</strong>? All its Api Tokens are revoked; its request records
            stay exportable.
          </p>
          {deleteError && (
            <p class="form-error" role="alert">
              {deleteError}
            </p>
          )}
          <div class="dialog-actions">
            <button type="button" class="btn-danger" onClick={() => void confirmDelete()}>
              DELETE
            </button>
            <button type="button" onClick={() => setDeleting(null)} autofocus>
              CANCEL
            </button>
          </div>
        </Dialog>
      )}
      {created && (
        <SecretDialog
          title="Project created"
          tokenName={created.name}
          secret={created.secret}
          onClose={() => setCreated(null)}
        />
      )}
    </section>
  );
}
