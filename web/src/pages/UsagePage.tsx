import { useCallback, useId, useMemo } from 'preact/hooks';
import * as api from '../api';
import { Notice } from '../components/Notice';
import { ProjectFilter } from '../components/ProjectFilter';
import { LoadState } from '../components/TableState';
import { TimelineChart } from '../components/TimelineChart';
import {
  type ChartData,
  chartPicksFrom,
  chartPicksQuery,
  type ChartPicks,
  UsageBreakdownChart,
} from '../components/UsageBreakdownChart';
import { dayRange, formatCost, formatNumber, formatPercent, localDay, midnight, TIME_ZONE } from '../format';
import { useResource } from '../hooks';
import { setQuery } from '../router';

interface Summary {
  overall: api.UsageGroup | undefined;
  byToken: api.UsageGroup[];
  byAssistant: api.UsageGroup[];
  byModel: api.UsageGroup[];
}

const DAY_MS = 86400000;
const BREAKDOWN_ROWS = 10;

interface Breakdown {
  key: string;
  label: string;
  requests: number;
  cost: number;
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

/** The default range: the last 30 days up to today, in the browser's time zone. */
function defaultRange(): { from: string; to: string } {
  const today = new Date();
  return { from: localDay(new Date(today.getTime() - 29 * DAY_MS)), to: localDay(today) };
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Usage dashboard: totals, a daily timeline and breakdowns, added up by the server (API.md §8).
 * The range (`from`, `to`: local days; default the last 30 days) and `project` live in the URL.
 */
export function UsagePage({ query }: { query: URLSearchParams }) {
  const defaults = useMemo(defaultRange, []);
  const fromParam = query.get('from') ?? '';
  const toParam = query.get('to') ?? '';
  const startDate = DAY_RE.test(fromParam) ? fromParam : defaults.from;
  const endDate = DAY_RE.test(toParam) ? toParam : defaults.to;
  const projectId = query.get('project') ?? '';
  const ids = { from: useId(), to: useId() };
  const filtered = projectId !== '' || startDate !== defaults.from || endDate !== defaults.to;

  const usage = useResource(
    useCallback(async (): Promise<Summary> => {
      const range = { ...dayRange(startDate, endDate), projectId: projectId || undefined };
      const [overall, byToken, byAssistant, byModel] = await Promise.all([
        api.usageSummary({ ...range, interval: 'day', timeZone: TIME_ZONE }),
        api.usageSummary({ ...range, groupBy: 'token' }),
        api.usageSummary({ ...range, groupBy: 'assistant' }),
        api.usageSummary({ ...range, groupBy: 'model' }),
      ]);
      return { overall: overall[0], byToken, byAssistant, byModel };
    }, [startDate, endDate, projectId]),
  );
  const summary = usage.data;

  // The breakdown chart: its picks live in the URL (`by`, `metric`, `layout`); its own summary
  // (grouped as picked, by day) loads like the page's. Only the grouping needs a new request.
  const chartPicks = chartPicksFrom(query);
  const chartBy = chartPicks.groupBy;
  const chart = useResource(
    useCallback(async (): Promise<ChartData> => {
      const groups = await api.usageSummary({
        ...dayRange(startDate, endDate),
        projectId: projectId || undefined,
        groupBy: chartBy,
        interval: 'day',
        timeZone: TIME_ZONE,
      });
      return { groupBy: chartBy, groups };
    }, [startDate, endDate, projectId, chartBy]),
  );
  // The page's RETRY loads the chart again too when it failed with the rest (it shows inside the
  // figures, so its own error would otherwise appear once they are back).
  const retryable = {
    ...usage,
    reload: () => {
      usage.reload();
      if (chart.error !== undefined) chart.reload();
    },
  };
  const setChartPicks = (picks: ChartPicks) => {
    setQuery(chartPicksQuery(picks));
  };

  const stats = useMemo(() => {
    if (!summary) return null;
    const { overall, byToken, byAssistant, byModel } = summary;
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
  }, [summary, startDate, endDate]);

  const exportCsv = () => {
    if (!summary) return;
    const url = URL.createObjectURL(new Blob([summaryCsv(summary)], { type: 'text/csv' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = `gatehouse-usage-${startDate}-to-${endDate}.csv`;
    link.click();
    window.setTimeout(() => {
      URL.revokeObjectURL(url);
    }, 10000);
  };

  return (
    <section class="page" aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      <div class="toolbar">
        <button type="button" class="btn-primary" disabled={!summary || usage.loading} onClick={exportCsv}>
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
            onInput={(e) => {
              const day = e.currentTarget.value;
              if (day) setQuery({ from: day === defaults.from ? null : day });
            }}
          />
        </div>
        <div class="filter">
          <label for={ids.to}>To</label>
          <input
            id={ids.to}
            type="date"
            value={endDate}
            min={startDate}
            onInput={(e) => {
              const day = e.currentTarget.value;
              if (day) setQuery({ to: day === defaults.to ? null : day });
            }}
          />
        </div>
        <ProjectFilter value={projectId} allLabel="All projects" />
      </div>
      <LoadState resource={retryable} noun="usage" unavailableText="Usage data is not available on this server yet." />
      {stats?.total === 0 && !usage.loading && (
        <Notice kind="empty">
          {filtered ? 'No requests match this range and project.' : 'No requests yet in the last 30 days.'}
        </Notice>
      )}
      {stats && (
        <div class={usage.loading ? 'usage-figures stale' : 'usage-figures'} aria-busy={usage.loading}>
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
            load={chart}
            range={`from ${startDate} to ${endDate} (${TIME_ZONE})`}
          />
          <div class="breakdowns">
            <BreakdownList title="By API token" rows={stats.byToken} />
            <BreakdownList title="By assistant" rows={stats.byAssistant} />
            <BreakdownList title="By model" rows={stats.byModel} />
          </div>
        </div>
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
