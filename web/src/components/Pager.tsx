import { useId } from 'preact/hooks';
import { intParam, setQuery } from '../router';

export const PAGE_SIZES = [5, 10, 20, 50, 100];
const DEFAULT_PAGE_SIZE = 20;

/**
 * A paged view's page and page size from the URL's `page` and `size` (defaults 1 and 20, left
 * out of the URL), with the handlers Pager calls; a new page size starts again at page 1.
 */
export function urlPaging(query: URLSearchParams) {
  return {
    page: intParam(query, 'page', 1),
    pageSize: intParam(query, 'size', DEFAULT_PAGE_SIZE, PAGE_SIZES),
    onPage: (page: number) => {
      setQuery({ page: page === 1 ? null : page });
    },
    onPageSize: (size: number) => {
      setQuery({ size: size === DEFAULT_PAGE_SIZE ? null : size, page: null });
    },
  };
}

interface PagerProps {
  page: number;
  pages: number;
  count?: number;
  pageSize: number;
  pageSizes?: number[];
  hasNext?: boolean;
  onPage: (page: number) => void;
  onPageSize: (size: number) => void;
}

/** Paging controls |< < > >| with "Page k of n" and a page-size select. */
export function Pager(props: PagerProps) {
  const { page, pages, count, pageSize, onPage, onPageSize } = props;
  const sizes = props.pageSizes ?? PAGE_SIZES;
  const sizeId = useId();
  const last = Math.max(pages, 1);
  const hasNext = props.hasNext ?? page < last;
  return (
    <nav class="pager" aria-label="Pagination">
      <button type="button" class="btn-icon" title="First page" disabled={page <= 1} onClick={() => onPage(1)}>
        |&lt;
      </button>
      <button
        type="button"
        class="btn-icon"
        title="Previous page"
        disabled={page <= 1}
        onClick={() => onPage(page - 1)}
      >
        &lt;
      </button>
      <span class="pager-status" aria-live="polite">
        Page {page}
        {pages > 0 ? ` of ${last}` : ''}
        {count !== undefined ? ` · ${count} total` : ''}
      </span>
      <button type="button" class="btn-icon" title="Next page" disabled={!hasNext} onClick={() => onPage(page + 1)}>
        &gt;
      </button>
      {pages > 0 && (
        <button type="button" class="btn-icon" title="Last page" disabled={page >= last} onClick={() => onPage(last)}>
          &gt;|
        </button>
      )}
      <label for={sizeId} class="pager-size-label">
        Page size
      </label>
      <select id={sizeId} value={String(pageSize)} onChange={(e) => onPageSize(Number(e.currentTarget.value))}>
        {sizes.map((size) => (
          <option value={String(size)}>{size}</option>
        ))}
      </select>
    </nav>
  );
}
