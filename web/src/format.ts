/** The browser's IANA time zone: every time the console shows is in it, labelled with it. */
export const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const pad = (n: number) => String(n).padStart(2, '0');

/** The zone's short name at `date` ("UTC", "EST", "GMT+1"), which follows daylight saving. */
function zoneName(date: Date): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZone: TIME_ZONE, timeZoneName: 'short' })
    .formatToParts(date)
    .find((p) => p.type === 'timeZoneName');
  return part?.value ?? TIME_ZONE;
}

/** "YYYY-MM-DD HH:MM:SS" in the browser's time zone, without the zone (for a column that names it). */
export function formatLocalTime(value: string | null | undefined): string {
  if (!value) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return (
    `${String(date.getFullYear())}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** "YYYY-MM-DD HH:MM:SS ZONE" in the browser's time zone ("2026-11-27 19:33:00 UTC"). */
export function formatDateTime(value: string | null | undefined): string {
  const text = formatLocalTime(value);
  if (!value || text === value) return text;
  return `${text} ${zoneName(new Date(value))}`;
}

/** "YYYY-MM-DD HH:MM:SS UTC" whatever the browser's zone (the token lifecycle's exact times). */
export function formatUtc(value: string | null | undefined): string {
  if (!value) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

/** "YYYY-MM-DD" of a timestamp in the browser's time zone. */
export function formatDay(value: string | null | undefined): string {
  const text = formatLocalTime(value);
  return text === '—' || !value || text === value ? text : text.slice(0, 10);
}

export function formatCost(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (value === 0) return '$0';
  if (Math.abs(value) < 0.01) return `$${value.toPrecision(2)}`;
  return `$${value.toFixed(2)}`;
}

export function formatNumber(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}

export function formatPercent(value: number): string {
  if (Number.isNaN(value)) return '—';
  return `${(value * 100).toFixed(1)}%`;
}

/** YYYY-MM-DD of a date in the browser's time zone. */
export function localDay(date: Date): string {
  return `${String(date.getFullYear())}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Local midnight of a YYYY-MM-DD day, `offset` days later. */
export function midnight(day: string, offset = 0): Date {
  const [year, month, date] = day.split('-').map(Number);
  return new Date(year, month - 1, date + offset);
}

/** The ISO instants bounding whole local days `from`..`to` (inclusive), for the API's date range. */
export function dayRange(from: string, to: string): { startDate: string; endDate: string } {
  return {
    startDate: midnight(from).toISOString(),
    endDate: new Date(midnight(to, 1).getTime() - 1).toISOString(),
  };
}
