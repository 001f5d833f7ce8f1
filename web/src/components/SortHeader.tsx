export type SortDirection = 'asc' | 'desc';

interface SortHeaderProps {
  label: string;
  sortKey: string;
  activeKey: string;
  direction: SortDirection;
  onSort: (key: string, direction: SortDirection) => void;
}

/** A column header that sorts by its key; clicking the active column flips the direction. */
export function SortHeader({ label, sortKey, activeKey, direction, onSort }: SortHeaderProps) {
  const active = sortKey === activeKey;
  const next: SortDirection = active && direction === 'asc' ? 'desc' : 'asc';
  return (
    <th scope="col" aria-sort={active ? (direction === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" class="sort-button" onClick={() => onSort(sortKey, next)}>
        {label}
        {active && <span aria-hidden="true">{direction === 'asc' ? ' ↑' : ' ↓'}</span>}
      </button>
    </th>
  );
}
