// Small line icons drawn inline, so the UI needs no icon font and no emoji font.
const PATHS: Record<string, string> = {
  attach: 'M16.5 6.5l-7.8 7.8a2.5 2.5 0 003.5 3.5l8-8a4.5 4.5 0 00-6.4-6.4l-8.3 8.3a6.5 6.5 0 009.2 9.2l6.3-6.3',
  reply: 'M10 8L4 13l6 5M4 13h10a6 6 0 016 6v1',
  edit: 'M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4',
  trash: 'M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13',
  lock: 'M7 11V8a5 5 0 0110 0v3M6 11h12v9H6z',
  menu: 'M4 7h16M4 12h16M4 17h16',
  close: 'M6 6l12 12M18 6L6 18',
  smile: 'M12 21a9 9 0 100-18 9 9 0 000 18zM8.5 14a4 4 0 007 0M9 9.5h.01M15 9.5h.01',
  pin: 'M9 4h6l-1 6 4 4H6l4-4-1-6zM12 14v7',
  bookmark: 'M6 4h12v17l-6-4-6 4z',
  bookmarkFilled: 'M6 4h12v17l-6-4-6 4zM9 8h6M9 11h6',
};

export function Icon(props: { name: keyof typeof PATHS; size?: number }) {
  const s = props.size ?? 18;
  return (
    <svg class="icon" width={s} height={s} viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">
      <path d={PATHS[props.name]} />
    </svg>
  );
}
