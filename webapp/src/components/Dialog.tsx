import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

/** A modal dialog: labelled, focus moves in on open and back on close, Escape closes. */
export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>('input, textarea, select, button:not(.dialog__close)');
    (first ?? ref.current)?.focus();
    return () => before?.focus();
  }, []);
  const titleId = `dialog-${props.title.replace(/\W+/g, '-').toLowerCase()}`;
  return (
    <div class="dialog-backdrop" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <div
        class={`dialog${props.wide ? ' dialog--wide' : ''}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        tabIndex={-1}
        ref={ref}
        onKeyDown={(e) => e.key === 'Escape' && props.onClose()}
      >
        <header class="dialog__header">
          <h2 id={titleId}>{props.title}</h2>
          <button type="button" class="dialog__close" aria-label="Close" onClick={props.onClose}>
            ×
          </button>
        </header>
        <div class="dialog__body">{props.children}</div>
      </div>
    </div>
  );
}
