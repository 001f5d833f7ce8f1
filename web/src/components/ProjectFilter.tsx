import { useId } from 'preact/hooks';
import { setQuery } from '../router';
import { useConsole } from '../state';

interface ProjectFilterProps {
  /** The URL's `project` ('' = every project). */
  value: string;
  /** The option for every project: "All", "All projects". */
  allLabel: string;
}

/**
 * A page's Project filter, bound to the URL's `project` like the header's selector: choosing a
 * project here chooses it in the header too, and the first option lists every project.
 */
export function ProjectFilter({ value, allLabel }: ProjectFilterProps) {
  const { projects, selectProject } = useConsole();
  const id = useId();
  return (
    <div class="filter">
      <label for={id}>Project</label>
      <select
        id={id}
        value={value}
        onChange={(e) => {
          const projectId = e.currentTarget.value;
          if (projectId) selectProject(projectId);
          else setQuery({ project: null, page: null });
        }}
      >
        {/* `selected` as well as the select's value: a deep link's project arrives before the list does. */}
        <option value="" selected={value === ''}>
          {allLabel}
        </option>
        {projects.map((p) => (
          <option value={p.projectId} key={p.projectId} selected={p.projectId === value}>
            {p.projectName}
          </option>
        ))}
      </select>
    </div>
  );
}
