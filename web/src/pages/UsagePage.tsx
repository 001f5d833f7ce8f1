import { useEffect, useId, useMemo, useState } from 'preact/hooks';
import * as api from '../api';
import { Notice } from '../components/Notice';
import { TimelineChart } from '../components/TimelineChart';
import { formatCost, formatNumber, formatPercent, isoDay } from '../format';

type Load = { kind: 'loading' } | { kind: 'unavailable' } | { kind: 'error'; text: string } | { kind: 'ready'; items: api.RequestItem[] };

// The dashboard aggregates the export in the browser; this caps one load.
const MAX_ITEMS = 50000;
const DAY_MS = 86400000;

interface Breakdown {
  key: string;
  requests: number;
  cost: number;
}

function breakdown(items: api.RequestItem[], keyOf: (item: api.RequestItem) => string): Breakdown[] {
  const groups = new Map<string, Breakdown>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key) ?? { key, requests: 0, cost: 0 };
    group.requests += 1;
    group.cost += item.cost ?? 0;
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) => b.requests - a.requests || a.key.localeCompare(b.key)).slice(0, 10);
}

/** Usage dashboard: totals, a daily timeline and breakdowns, from the request export. */
export function UsagePage() {
  const today = new Date();
  const [startDate, setStartDate] = useState(isoDay(new Date(today.getTime() - 29 * DAY_MS)));
  const [endDate, setEndDate] = useState(isoDay(today));
  const [load, setLoad] = useState<Load>({ kind: 'loading' });
  const ids = { from: useId(), to: useId() };

  useEffect(() => {
    let current = true;
    setLoad({ kind: 'loading' });
    api.exportRequests({ startDate, endDate, count: MAX_ITEMS }).then(
      (items) => current && setLoad({ kind: 'ready', items }),
      (e) => current && setLoad(api.isNotAvailable(e) ? { kind: 'unavailable' } : { kind: 'error', text: api.errorText(e) }),
    );
    return () => {
      current = false;
    };
  }, [startDate, endDate]);

  const stats = useMemo(() => {
    if (load.kind !== 'ready') return null;
    const items = load.items;
    const total = items.length;
    const errors = items.filter((i) => i.status === 'failed').length;
    const cost = items.reduce((sum, i) => sum + (i.cost ?? 0), 0);
    const timed = items.filter((i) => i.elapsedTimeMs !== null);
    const elapsed = timed.reduce((sum, i) => sum + (i.elapsedTimeMs ?? 0), 0);

    const first = Date.parse(`${startDate}T00:00:00Z`);
    const last = Date.parse(`${endDate}T00:00:00Z`);
    const days: number[] = [];
    for (let t = first; t <= last && days.length < 1000; t += DAY_MS) days.push(t / 1000);
    const index = new Map(days.map((d, i) => [isoDay(new Date(d * 1000)), i]));
    const perDay = { requests: days.map(() => 0), errors: days.map(() => 0), cost: days.map(() => 0) };
    for (const item of items) {
      const i = index.get((item.startTimestamp ?? item.timestamp ?? '').slice(0, 10));
      if (i === undefined) continue;
      perDay.requests[i] += 1;
      if (item.status === 'failed') perDay.errors[i] += 1;
      perDay.cost[i] += item.cost ?? 0;
    }
    return {
      total,
      errors,
      cost,
      avgCost: total ? cost / total : NaN,
      avgTime: timed.length ? elapsed / timed.length : NaN,
      errorRate: total ? errors / total : NaN,
      days,
      perDay,
      byToken: breakdown(items, (i) => i.apiToken || '(unknown)'),
      byAssistant: breakdown(items, (i) => i.assistant || '(direct model call)'),
      byModel: breakdown(items, (i) => i.model || '(unknown)'),
      truncated: total >= MAX_ITEMS,
    };
  }, [load, startDate, endDate]);

  return (
    <section class="page" aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      <div class="filters" role="search" aria-label="Date range">
        <div class="filter">
          <label for={ids.from}>From</label>
          <input id={ids.from} type="date" value={startDate} max={endDate} onInput={(e) => e.currentTarget.value && setStartDate(e.currentTarget.value)} />
        </div>
        <div class="filter">
          <label for={ids.to}>To</label>
          <input id={ids.to} type="date" value={endDate} min={startDate} onInput={(e) => e.currentTarget.value && setEndDate(e.currentTarget.value)} />
        </div>
      </div>
      {load.kind === 'loading' && <p class="form-hint">Loading…</p>}
      {load.kind === 'unavailable' && <Notice kind="unavailable">Usage data is not available on this server yet.</Notice>}
      {load.kind === 'error' && <Notice kind="error">Could not load usage: {load.text}</Notice>}
      {stats && (
        <>
          {stats.truncated && <Notice kind="empty">Showing the newest {formatNumber(MAX_ITEMS)} requests of this range.</Notice>}
          <div class="cards">
            <Card label="Total cost" value={formatCost(stats.cost)} />
            <Card label="Average cost per request" value={formatCost(Number.isNaN(stats.avgCost) ? null : stats.avgCost)} />
            <Card label="Average request time" value={Number.isNaN(stats.avgTime) ? '—' : `${formatNumber(stats.avgTime)} ms`} />
            <Card label="Total requests" value={formatNumber(stats.total)} />
            <Card label="Request errors" value={formatNumber(stats.errors)} />
            <Card label="Error rate" value={formatPercent(stats.errorRate)} />
          </div>
          <h2>Timeline</h2>
          <TimelineChart
            days={stats.days}
            requests={stats.perDay.requests}
            errors={stats.perDay.errors}
            cost={stats.perDay.cost}
            label={`Requests, errors and cost per day from ${startDate} to ${endDate}`}
          />
          <div class="breakdowns">
            <BreakdownList title="By API token" rows={stats.byToken} />
            <BreakdownList title="By assistant" rows={stats.byAssistant} />
            <BreakdownList title="By model" rows={stats.byModel} />
          </div>
        </>
      )}
    </section>
  );
}

function Card({ label, value }: { label: string; value: string }) {
  return (
    <div class="card">
      <div class="card-label">{label}</div>
      <div class="card-value">{value}</div>
    </div>
  );
}

function BreakdownList({ title, rows }: { title: string; rows: Breakdown[] }) {
  const max = Math.max(1, ...rows.map((r) => r.requests));
  return (
    <div class="breakdown">
      <h2>{title}</h2>
      {rows.length === 0 && <p class="form-hint">No requests in this range.</p>}
      <ul>
        {rows.map((row) => (
          <li key={row.key}>
            <div class="bar-label">
              <span>{row.key}</span>
              <span>
                {formatNumber(row.requests)} · {formatCost(row.cost)}
              </span>
            </div>
            <div class="bar" aria-hidden="true">
              <div class="bar-fill" style={{ width: `${(row.requests / max) * 100}%` }} />
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}
