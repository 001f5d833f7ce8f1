import { useEffect, useId, useMemo, useState } from 'preact/hooks';
import * as api from '../api';
import { Notice } from '../components/Notice';
import { TimelineChart } from '../components/TimelineChart';
import { type ChartLoad, DEFAULT_CHART_PICKS, UsageBreakdownChart } from '../components/UsageBreakdownChart';
import { formatCost, formatNumber, formatPercent } from '../format';
import { useConsole } from '../state';

interface Summary {
  overall: api.UsageGroup | undefined;
  byToken: api.UsageGroup[];
  byAssistant: api.UsageGroup[];
  byModel: api.UsageGroup[];
}

type Load =
  { kind: 'loading' } | { kind: 'unavailable' } | { kind: 'error'; text: string } | { kind: 'ready'; summary: Summary };

const DAY_MS = 86400000;
const BREAKDOWN_ROWS = 10;
// Day buckets follow the browser's time zone, as the date inputs do.
const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

interface Breakdown {
  key: string;
  label: string;
  requests: number;
  cost: number;
}

/** YYYY-MM-DD of a date in the browser's time zone. */
function localDay(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Local midnight of a YYYY-MM-DD day, `offset` days later. */
function midnight(day: string, offset = 0): Date {
  const [year, month, date] = day.split('-').map(Number);
  return new Date(year, month - 1, date + offset);
}

function breakdown(groups: api.UsageGroup[], keyOf: (key: api.UsageGroup['key']) => [string, string]): Breakdown[] {
  return groups.slice(0, BREAKDOWN_ROWS).map((group) => {
    const [key, label] = keyOf(group.key);
    return { key, label, requests: group.totals.requests, cost: group.totals.cost };
  });
}

/** A CSV cell: quoted, and a leading =, +, - or @ neutralized as spreadsheet exports do. */
function csvCell(value: string | number): string {
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@]/.test(text)) text = `'${text}`;
  return `"${text.replace(/"/g, '""')}"`;
}

/** The summary as CSV: the totals, one row per day, then every token, assistant and model. */
function summaryCsv(summary: Summary): string {
  const header = [
    'dimension',
    'id',
    'name',
    'project',
    'requests',
    'failed',
    'promptTokens',
    'completionTokens',
    'cost',
    'elapsedMs',
  ];
  const rows: (string | number)[][] = [];
  const add = (dimension: string, id: string, name: string, project: string, t: api.UsageTotals) =>
    rows.push([
      dimension,
      id,
      name,
      project,
      t.requests,
      t.failed,
      t.promptTokens,
      t.completionTokens,
      t.cost,
      t.elapsedMs,
    ]);
  if (summary.overall) {
    add('total', '', '', '', summary.overall.totals);
    for (const point of summary.overall.series) add('day', point.start, '', '', point);
  }
  for (const g of summary.byToken)
    add('token', g.key.apiTokenId ?? '', g.key.apiToken ?? '', g.key.projectName ?? '', g.totals);
  for (const g of summary.byAssistant) add('assistant', g.key.assistant ?? '', g.key.assistant ?? '', '', g.totals);
  for (const g of summary.byModel) add('model', g.key.model ?? '', g.key.model ?? '', '', g.totals);
  return [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** Usage dashboard: totals, a daily timeline and breakdowns, added up by the server (API.md §8). */
export function UsagePage() {
  const { projects } = useConsole();
  const today = new Date();
  const [startDate, setStartDate] = useState(localDay(new Date(today.getTime() - 29 * DAY_MS)));
  const [endDate, setEndDate] = useState(localDay(today));
  const [projectId, setProjectId] = useState('');
  const [load, setLoad] = useState<Load>({ kind: 'loading' });
  const ids = { from: useId(), to: useId(), project: useId() };

  useEffect(() => {
    let current = true;
    setLoad({ kind: 'loading' });
    const range = {
      startDate: midnight(startDate).toISOString(),
      endDate: new Date(midnight(endDate, 1).getTime() - 1).toISOString(),
      projectId: projectId || undefined,
    };
    Promise.all([
      api.usageSummary({ ...range, interval: 'day', timeZone: TIME_ZONE }),
      api.usageSummary({ ...range, groupBy: 'token' }),
      api.usageSummary({ ...range, groupBy: 'assistant' }),
      api.usageSummary({ ...range, groupBy: 'model' }),
    ]).then(
      ([overall, byToken, byAssistant, byModel]) =>
        current && setLoad({ kind: 'ready', summary: { overall: overall[0], byToken, byAssistant, byModel } }),
      (e) =>
        current && setLoad(api.isNotAvailable(e) ? { kind: 'unavailable' } : { kind: 'error', text: api.errorText(e) }),
    );
    return () => {
      current = false;
    };
  }, [startDate, endDate, projectId]);

  // The breakdown chart: its picks, and its own summary (grouped as picked, by day) for the range.
  const [chartPicks, setChartPicks] = useState(DEFAULT_CHART_PICKS);
  const [chartLoad, setChartLoad] = useState<ChartLoad>({ kind: 'loading' });
  useEffect(() => {
    let current = true;
    const groupBy = chartPicks.groupBy;
    setChartLoad({ kind: 'loading' });
    api
      .usageSummary({
        startDate: midnight(startDate).toISOString(),
        endDate: new Date(midnight(endDate, 1).getTime() - 1).toISOString(),
        projectId: projectId || undefined,
        groupBy,
        interval: 'day',
        timeZone: TIME_ZONE,
      })
      .then(
        (groups) => current && setChartLoad({ kind: 'ready', groupBy, groups }),
        (e) => current && setChartLoad({ kind: 'error', text: api.errorText(e) }),
      );
    return () => {
      current = false;
    };
  }, [startDate, endDate, projectId, chartPicks.groupBy]);

  const stats = useMemo(() => {
    if (load.kind !== 'ready') return null;
    const { overall, byToken, byAssistant, byModel } = load.summary;
    const totals = overall?.totals ?? {
      requests: 0,
      failed: 0,
      promptTokens: 0,
      completionTokens: 0,
      cost: 0,
      elapsedMs: 0,
    };
    const days: number[] = [];
    for (
      let day = midnight(startDate);
      day <= midnight(endDate) && days.length < 1000;
      day = new Date(day.getFullYear(), day.getMonth(), day.getDate() + 1)
    ) {
      days.push(day.getTime() / 1000);
    }
    const index = new Map(days.map((d, i) => [d, i]));
    const perDay = { requests: days.map(() => 0), errors: days.map(() => 0), cost: days.map(() => 0) };
    for (const point of overall?.series ?? []) {
      const i = index.get(Date.parse(point.start) / 1000);
      if (i === undefined) continue;
      perDay.requests[i] += point.requests;
      perDay.errors[i] += point.failed;
      perDay.cost[i] += point.cost;
    }
    const total = totals.requests;
    return {
      total,
      errors: totals.failed,
      cost: totals.cost,
      avgCost: total ? totals.cost / total : NaN,
      avgTime: total ? totals.elapsedMs / total : NaN,
      errorRate: total ? totals.failed / total : NaN,
      days,
      perDay,
      // Tokens are grouped by id; the project tells apart two projects' tokens of one name.
      byToken: breakdown(byToken, (k) => [
        k.apiTokenId ?? '',
        k.projectName ? `${k.apiToken || '(deleted token)'} · ${k.projectName}` : k.apiToken || '(deleted token)',
      ]),
      byAssistant: breakdown(byAssistant, (k) => [k.assistant ?? '', k.assistant || '(unknown)']),
      byModel: breakdown(byModel, (k) => [k.model ?? '', k.model || '(unknown)']),
    };
  }, [load, startDate, endDate]);

  const exportCsv = () => {
    if (load.kind !== 'ready') return;
    const url = URL.createObjectURL(new Blob([summaryCsv(load.summary)], { type: 'text/csv' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = `gatehouse-usage-${startDate}-to-${endDate}.csv`;
    link.click();
    window.setTimeout(() => URL.revokeObjectURL(url), 10000);
  };

  return (
    <section class="page" aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      <div class="toolbar">
        <button type="button" class="btn-primary" disabled={load.kind !== 'ready'} onClick={exportCsv}>
          EXPORT CSV
        </button>
      </div>
      <div class="filters" role="search" aria-label="Usage filters">
        <div class="filter">
          <label for={ids.from}>From</label>
          <input
            id={ids.from}
            type="date"
            value={startDate}
            max={endDate}
            onInput={(e) => e.currentTarget.value && setStartDate(e.currentTarget.value)}
          />
        </div>
        <div class="filter">
          <label for={ids.to}>To</label>
          <input
            id={ids.to}
            type="date"
            value={endDate}
            min={startDate}
            onInput={(e) => e.currentTarget.value && setEndDate(e.currentTarget.value)}
          />
        </div>
        <div class="filter">
          <label for={ids.project}>Project</label>
          <select id={ids.project} value={projectId} onChange={(e) => setProjectId(e.currentTarget.value)}>
            <option value="">All projects</option>
            {projects.map((p) => (
              <option key={p.projectId} value={p.projectId}>
                {p.projectName}
              </option>
            ))}
          </select>
        </div>
      </div>
      {load.kind === 'loading' && <p class="form-hint">Loading…</p>}
      {load.kind === 'unavailable' && (
        <Notice kind="unavailable">Usage data is not available on this server yet.</Notice>
      )}
      {load.kind === 'error' && <Notice kind="error">Could not load usage: {load.text}</Notice>}
      {stats && (
        <>
          <div class="cards">
            <Card label="Total cost" value={formatCost(stats.cost)} />
            <Card
              label="Average cost per request"
              value={formatCost(Number.isNaN(stats.avgCost) ? null : stats.avgCost)}
            />
            <Card
              label="Average request time"
              value={Number.isNaN(stats.avgTime) ? '—' : `${formatNumber(stats.avgTime)} ms`}
            />
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
            label={`Requests, errors and cost per day (${TIME_ZONE}) from ${startDate} to ${endDate}`}
          />
          <UsageBreakdownChart
            days={stats.days}
            picks={chartPicks}
            onPicks={setChartPicks}
            load={chartLoad}
            range={`from ${startDate} to ${endDate} (${TIME_ZONE})`}
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
              <span>{row.label}</span>
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
