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

/** Space between the button and the list, and the least space kept from the viewport's edges. */
const GAP = 4;
const MARGIN = 4;

interface MenuPosition {
  top: number;
  right: number;
  /** The button's top and bottom in the viewport when the list opened. */
  anchorTop: number;
  anchorBottom: number;
}

/**
 * The list's top: under the button when it fits there, else above the button when it fits
 * there, else as low as it can go inside the viewport (it never starts above its top edge).
 */
export function fittedTop(position: MenuPosition, height: number, viewportHeight: number): number {
  const below = position.anchorBottom + GAP;
  if (below + height <= viewportHeight - MARGIN) return below;
  const above = position.anchorTop - GAP - height;
  if (above >= MARGIN) return above;
  return Math.max(MARGIN, Math.min(below, viewportHeight - MARGIN - height));
}

/**
 * A menu button (ARIA menu pattern): arrows move between items, Escape or Tab closes it, a click
 * outside closes it. The list is fixed-positioned under the button so that a table's scrolling
 * frame does not clip it — or above the button when there is no room below (a row near the
 * bottom of a phone's screen), and never outside the viewport; scrolling or resizing closes it.
 */
export function RowMenu({ label, ariaLabel, items }: RowMenuProps) {
  const [position, setPosition] = useState<MenuPosition | null>(null);
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
    // First drawn under the button; the layout effect below moves it once its height is known.
    setPosition({
      top: rect.bottom + GAP,
      right: Math.max(document.documentElement.clientWidth - rect.right, MARGIN),
      anchorTop: rect.top,
      anchorBottom: rect.bottom,
    });
  };

  // Before the first paint: place the list where it fits (this runs again after the move and
  // then finds it in place).
  useLayoutEffect(() => {
    const list = menu.current;
    if (!list || !position) return;
    const top = fittedTop(position, list.offsetHeight, document.documentElement.clientHeight);
    if (top !== position.top) setPosition({ ...position, top });
  }, [position]);

  // Focus moves into the list as it appears, before a key press can reach the button, and
  // without scrolling (a scroll closes the list).
  useLayoutEffect(() => {
    if (open) menu.current?.querySelector<HTMLButtonElement>('[role="menuitem"]')?.focus({ preventScroll: true });
  }, [open]);

  useEffect(() => {
    if (!open) return;
    const onPointer = (event: Event) => {
      const target = event.target;
      if (!(target instanceof Node)) return;
      if (!menu.current?.contains(target) && !button.current?.contains(target)) close(false);
    };
    // A scroll anywhere but inside the list moves the button away from it; the target of a
    // document scroll is the document, of a frame's scroll the frame (both Nodes).
    const onScroll = (event: Event) => {
      const target = event.target;
      if (target instanceof Node && menu.current?.contains(target)) return;
      close(false);
    };
    // A resize's target is the window, which is not a Node: it always closes the list.
    const onResize = () => {
      close(false);
    };
    document.addEventListener('pointerdown', onPointer, true);
    window.addEventListener('scroll', onScroll, true);
    window.addEventListener('resize', onResize);
    return () => {
      document.removeEventListener('pointerdown', onPointer, true);
      window.removeEventListener('scroll', onScroll, true);
      window.removeEventListener('resize', onResize);
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
