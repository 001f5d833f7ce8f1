import { useEffect, useState } from 'preact/hooks';
import { formatUtc } from '../format';

const UNITS: [limitSeconds: number, seconds: number, unit: string][] = [
  [3600, 60, 'min'],
  [86400, 3600, 'h'],
  [86400 * 45, 86400, 'day'],
  [86400 * 365, 86400 * 30, 'month'],
  [Infinity, 86400 * 365, 'year'],
];

/** "just now", "3 min ago", "in 2 days", "1 year ago": the distance from `now`, rounded. */
export function relativeTime(date: Date, now: number): string {
  const deltaSeconds = (date.getTime() - now) / 1000;
  const distance = Math.abs(deltaSeconds);
  if (distance < 45) return 'just now';
  const [, seconds, unit] = UNITS.find(([limit]) => distance < limit) ?? UNITS[UNITS.length - 1];
  const count = Math.max(1, Math.round(distance / seconds));
  const text = unit === 'min' || unit === 'h' || count === 1 ? `${count} ${unit}` : `${count} ${unit}s`;
  return deltaSeconds < 0 ? `${text} ago` : `in ${text}`;
}

// One timer for every RelativeTime on the page: they re-render together twice a minute.
const subscribers = new Set<(now: number) => void>();
let timer: number | undefined;

/** The current time in ms, refreshed every 30 s by the shared timer (read once per render, not during it). */
export function useNow(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    subscribers.add(setNow);
    timer ??= window.setInterval(() => {
      const value = Date.now();
      subscribers.forEach((notify) => {
        notify(value);
      });
    }, 30000);
    return () => {
      subscribers.delete(setNow);
      if (subscribers.size === 0) {
        window.clearInterval(timer);
        timer = undefined;
      }
    };
  }, []);
  return now;
}

interface RelativeTimeProps {
  /** An API.md §1 timestamp, or null. */
  value: string | null | undefined;
  /** Shown when there is no value ("never", "—"). */
  empty?: string;
}

/** A relative time ("3 min ago") in a <time datetime>, with the exact UTC time as its tooltip. */
export function RelativeTime({ value, empty = '—' }: RelativeTimeProps) {
  const now = useNow();
  if (!value) return <span class="time-empty">{empty}</span>;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return <span>{value}</span>;
  return (
    <time dateTime={value} title={formatUtc(value)}>
      {relativeTime(date, now)}
    </time>
  );
}
