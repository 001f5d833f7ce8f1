import { useEffect, useId, useLayoutEffect, useRef, useState } from 'preact/hooks';

export interface RowMenuItem {
  /** Visible text. */
  label: string;
  /** Accessible name, naming the row ("Revoke token ci-deploy"). */
  ariaLabel: string;
  danger?: boolean;
  onSelect: () => void;
}

interface RowMenuProps {
  /** Visible text of the button that opens the menu. */
  label: string;
  /** Its accessible name ("More actions for token ci-deploy"). */
  ariaLabel: string;
  items: RowMenuItem[];
}

/**
 * A menu button (ARIA menu pattern): arrows move between items, Escape or Tab closes it, a click
 * outside closes it. The list is fixed-positioned under the button so that a table's scrolling
 * frame does not clip it; scrolling or resizing closes it.
 */
export function RowMenu({ label, ariaLabel, items }: RowMenuProps) {
  const [position, setPosition] = useState<{ top: number; right: number } | null>(null);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLUListElement>(null);
  const menuId = useId();
  const open = position !== null;

  const close = (refocus: boolean) => {
    setPosition(null);
    if (refocus) button.current?.focus();
  };

  const toggle = () => {
    if (open || !button.current) {
      close(false);
      return;
    }
    const rect = button.current.getBoundingClientRect();
    setPosition({ top: rect.bottom + 4, right: Math.max(document.documentElement.clientWidth - rect.right, 4) });
  };

  // Focus moves into the menu as it appears, before a key press can reach the button.
  useLayoutEffect(() => {
    if (open) menu.current?.querySelector<HTMLButtonElement>('[role="menuitem"]')?.focus();
  }, [open]);

  useEffect(() => {
    if (!open) return;
    const onPointer = (event: Event) => {
      const target = event.target as Node;
      if (!menu.current?.contains(target) && !button.current?.contains(target)) close(false);
    };
    const onMove = (event: Event) => {
      if (!menu.current?.contains(event.target as Node)) close(false);
    };
    document.addEventListener('pointerdown', onPointer, true);
    window.addEventListener('scroll', onMove, true);
    window.addEventListener('resize', onMove);
    return () => {
      document.removeEventListener('pointerdown', onPointer, true);
      window.removeEventListener('scroll', onMove, true);
      window.removeEventListener('resize', onMove);
    };
  }, [open]);

  const onKeyDown = (event: KeyboardEvent) => {
    const entries = [...(menu.current?.querySelectorAll<HTMLButtonElement>('[role="menuitem"]') ?? [])];
    const index = entries.indexOf(document.activeElement as HTMLButtonElement);
    const focusAt = (i: number) => entries[(i + entries.length) % entries.length]?.focus();
    if (event.key === 'ArrowDown') focusAt(index + 1);
    else if (event.key === 'ArrowUp') focusAt(index - 1);
    else if (event.key === 'Home') focusAt(0);
    else if (event.key === 'End') focusAt(entries.length - 1);
    else if (event.key === 'Escape') close(true);
    else if (event.key === 'Tab') close(false);
    else return;
    if (event.key !== 'Tab') event.preventDefault();
  };

  return (
    <>
      <button
        ref={button}
        type="button"
        class="btn-small row-menu-button"
        aria-label={ariaLabel}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        onClick={toggle}
      >
        {label}
      </button>
      {position && (
        <ul
          ref={menu}
          id={menuId}
          class="row-menu"
          role="menu"
          aria-label={ariaLabel}
          style={{ top: `${position.top}px`, right: `${position.right}px` }}
          onKeyDown={onKeyDown}
        >
          {items.map((item) => (
            <li role="none" key={item.ariaLabel}>
              <button
                type="button"
                role="menuitem"
                tabIndex={-1}
                class={item.danger ? 'row-menu-item row-menu-danger' : 'row-menu-item'}
                aria-label={item.ariaLabel}
                onClick={() => {
                  close(false);
                  item.onSelect();
                }}
              >
                {item.label}
              </button>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
