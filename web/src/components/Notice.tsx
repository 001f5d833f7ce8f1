import type { ComponentChildren } from 'preact';

/** A full-width message for empty, unavailable and error states. */
export function Notice({ kind, children }: { kind: 'empty' | 'unavailable' | 'error'; children: ComponentChildren }) {
  return (
    <div class={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}
