import { useEffect, useId, useLayoutEffect, useMemo, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import '../usage-chart.css';
import * as api from '../api';
import { formatCost, formatNumber } from '../format';
import type { Resource } from '../hooks';
import { Notice } from './Notice';

export type ChartGroupBy = 'project' | 'token' | 'assistant' | 'model';
export type ChartMetric = 'requests' | 'failed' | 'promptTokens' | 'completionTokens' | 'cost';
export type ChartLayout = 'stacked' | 'multiples';

/** What the user picked: the grouping (it needs its own summary request), the metric and the layout. */
export interface ChartPicks {
  groupBy: ChartGroupBy;
  metric: ChartMetric;
  layout: ChartLayout;
}

export const DEFAULT_CHART_PICKS: ChartPicks = { groupBy: 'token', metric: 'requests', layout: 'stacked' };

/** The chart's summary (`groupBy` + `interval=day`), tagged with the grouping it was asked for. */
export interface ChartData {
  groupBy: ChartGroupBy;
  groups: api.UsageGroup[];
}

const GROUP_BYS: [ChartGroupBy, string][] = [
  ['project', 'Project'],
  ['token', 'Token'],
  ['assistant', 'Assistant'],
  ['model', 'Model'],
];

const METRICS: [ChartMetric, string][] = [
  ['requests', 'Requests'],
  ['failed', 'Failures'],
  ['promptTokens', 'Prompt tokens'],
  ['completionTokens', 'Completion tokens'],
  ['cost', 'Cost'],
];

const LAYOUTS: [ChartLayout, string][] = [
  ['stacked', 'Stacked'],
  ['multiples', 'Small multiples'],
];

/** A value of `options` by exact match, or `fallback`. */
function oneOf<T extends string>(options: [T, string][], value: string | null, fallback: T): T {
  return options.find(([v]) => v === value)?.[0] ?? fallback;
}

/** The picks kept in the URL: `by`, `metric`, `layout` (missing or unknown: the default). */
export function chartPicksFrom(query: URLSearchParams): ChartPicks {
  return {
    groupBy: oneOf(GROUP_BYS, query.get('by'), DEFAULT_CHART_PICKS.groupBy),
    metric: oneOf(METRICS, query.get('metric'), DEFAULT_CHART_PICKS.metric),
    layout: oneOf(LAYOUTS, query.get('layout'), DEFAULT_CHART_PICKS.layout),
  };
}

/** The URL parameters of `picks`; a default is left out (null removes it). */
export function chartPicksQuery(picks: ChartPicks): Record<'by' | 'metric' | 'layout', string | null> {
  return {
    by: picks.groupBy === DEFAULT_CHART_PICKS.groupBy ? null : picks.groupBy,
    metric: picks.metric === DEFAULT_CHART_PICKS.metric ? null : picks.metric,
    layout: picks.layout === DEFAULT_CHART_PICKS.layout ? null : picks.layout,
  };
}

/** Groups drawn by name; the rest are added up as "Others". */
export const TOP_GROUPS = 8;

// Tableau 10: ten hues chosen to stay apart from each other, also for common colour-vision deficiencies.
// The grey is kept for "Others".
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f'];
const OTHERS_COLOR = '#bab0ac';

const STACKED_HEIGHT = 260;
const MULTIPLE_HEIGHT = 120;

interface Row {
  id: string;
  label: string;
  color: string;
  total: number;
  /** The metric per day, aligned with `days`. */
  values: number[];
}

const labelOf = (option: [string, string][], value: string) => option.find(([v]) => v === value)?.[1] ?? value;

/** A group's id and its label: tokens by id, labelled with their project (two `Default` tokens stay apart). */
function identify(groupBy: ChartGroupBy, key: api.UsageGroup['key']): [string, string] {
  switch (groupBy) {
    case 'project':
      return [key.projectId ?? '', key.projectName || '(deleted project)'];
    case 'token': {
      const name = key.apiToken || '(deleted token)';
      return [key.apiTokenId ?? '', key.projectName ? `${name} · ${key.projectName}` : name];
    }
    case 'assistant':
      return [key.assistant ?? '', key.assistant || '(no assistant)'];
    case 'model':
      return [key.model ?? '', key.model || '(unknown model)'];
  }
}

/** The top groups by the metric (then by requests, then by label) plus "Others", each with a value per day. */
function chartRows(groups: api.UsageGroup[], groupBy: ChartGroupBy, metric: ChartMetric, days: number[]): Row[] {
  const index = new Map(days.map((day, i) => [day, i]));
  const all = groups.map((group) => {
    const [id, label] = identify(groupBy, group.key);
    const values = days.map(() => 0);
    for (const point of group.series) {
      const i = index.get(Date.parse(point.start) / 1000);
      if (i !== undefined) values[i] += point[metric];
    }
    return { id, label, total: group.totals[metric], requests: group.totals.requests, values };
  });
  all.sort((a, b) => b.total - a.total || b.requests - a.requests || a.label.localeCompare(b.label));
  const rows: Row[] = all
    .slice(0, TOP_GROUPS)
    .map(({ id, label, total, values }, i) => ({ id, label, total, values, color: COLORS[i % COLORS.length] }));
  const rest = all.slice(TOP_GROUPS);
  if (rest.length) {
    rows.push({
      id: '\u0000others',
      label: 'Others',
      color: OTHERS_COLOR,
      total: rest.reduce((sum, row) => sum + row.total, 0),
      values: days.map((_, i) => rest.reduce((sum, row) => sum + row.values[i], 0)),
    });
  }
  return rows;
}

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** A value of the metric as text: costs in dollars, the rest as whole numbers. */
function formatValue(metric: ChartMetric, value: number): string {
  return metric === 'cost' ? formatCost(value) : formatNumber(value);
}

/** An axis tick: costs in dollars, counts compact ("1.2K") and never at fractional ticks. */
function formatTick(metric: ChartMetric, value: number): string {
  if (metric === 'cost') return formatCost(value);
  return Number.isInteger(value) ? compact.format(value) : '';
}

function dayText(day: number): string {
  const date = new Date(day * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

interface UsageBreakdownChartProps {
  /** Day starts (local midnight) of the page's range, in seconds since the epoch. */
  days: number[];
  picks: ChartPicks;
  onPicks: (picks: ChartPicks) => void;
  /** The page's request for the chart's summary (useResource): loading, failed (RETRY) or data. */
  load: Resource<ChartData>;
  /** The range in words, for the text alternative: "2026-11-01 to 2026-11-30 (Europe/Paris)". */
  range: string;
}

/**
 * Usage per day of the top groups (project, token, assistant or model) for one metric, as one
 * stacked bar chart or as small multiples sharing a y scale. The data comes from the page
 * (GET /v2/usage/summary with groupBy and interval=day); this component only draws it.
 */
export function UsageBreakdownChart({ days, picks, onPicks, load, range }: UsageBreakdownChartProps) {
  const ids = { title: useId(), groupBy: useId(), metric: useId() };
  const readoutRef = useRef<HTMLParagraphElement>(null);
  // Data for another grouping than the one picked is on its way out: wait for the new one.
  const ready = !load.loading && load.data?.groupBy === picks.groupBy ? load.data : null;
  const rows = useMemo(
    () => (ready ? chartRows(ready.groups, ready.groupBy, picks.metric, days) : []),
    [ready, picks.metric, days],
  );
  const metricLabel = labelOf(METRICS, picks.metric);
  const groupLabel = labelOf(GROUP_BYS, picks.groupBy).toLowerCase();
  const layoutLabel = labelOf(LAYOUTS, picks.layout).toLowerCase();
  const summary =
    `${metricLabel} per day by ${groupLabel}, ${layoutLabel}, ${range}: ` +
    (rows.length ? rows.map((row) => `${row.label} ${formatValue(picks.metric, row.total)}`).join('; ') : 'no calls');
  const failed = !load.loading && load.error !== undefined;
  const state = ready ? 'ready' : failed ? 'error' : 'loading';

  // The hovered day's values, written straight into the readout (no re-render per mouse move).
  const showDay = (index: number | null | undefined) => {
    const element = readoutRef.current;
    if (!element) return;
    if (index === null || index === undefined || index < 0 || index >= days.length) {
      element.textContent = '';
      return;
    }
    element.textContent = `${dayText(days[index])}: ${rows
      .map((row) => `${row.label} ${formatValue(picks.metric, row.values[index])}`)
      .join(' · ')}`;
  };

  return (
    <section
      class="usage-chart"
      aria-labelledby={ids.title}
      data-state={state}
      aria-busy={state === 'loading'}
      data-group-by={picks.groupBy}
      data-metric={picks.metric}
      data-layout={picks.layout}
      data-series={ready ? JSON.stringify(rows.map((row) => ({ label: row.label, total: row.total }))) : ''}
    >
      <h2 id={ids.title}>Breakdown over time</h2>
      <div class="usage-chart-controls">
        <div class="filter">
          <label for={ids.groupBy}>Chart by</label>
          <select
            id={ids.groupBy}
            value={picks.groupBy}
            onChange={(e) => onPicks({ ...picks, groupBy: e.currentTarget.value as ChartGroupBy })}
          >
            {GROUP_BYS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div class="filter">
          <label for={ids.metric}>Metric</label>
          <select
            id={ids.metric}
            value={picks.metric}
            onChange={(e) => onPicks({ ...picks, metric: e.currentTarget.value as ChartMetric })}
          >
            {METRICS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div class="usage-chart-layout" role="group" aria-label="Layout">
          <span class="usage-chart-layout-label" aria-hidden="true">
            Layout
          </span>
          {LAYOUTS.map(([value, label]) => (
            <button
              key={value}
              type="button"
              class="btn-small"
              aria-pressed={picks.layout === value}
              onClick={() => onPicks({ ...picks, layout: value })}
            >
              {label}
            </button>
          ))}
        </div>
      </div>
      {failed && (
        <Notice kind="error">
          Could not load the chart: {api.errorText(load.error)}{' '}
          <button type="button" class="btn-small" onClick={load.reload}>
            RETRY
          </button>
        </Notice>
      )}
      {state === 'loading' && <p class="form-hint">Loading…</p>}
      {ready && rows.length === 0 && <p class="usage-chart-empty">No calls in this range</p>}
      {ready && rows.length > 0 && (
        <>
          <div class="usage-chart-frame">
            {picks.layout === 'stacked' ? (
              <>
                <StackedBars days={days} rows={rows} metric={picks.metric} label={summary} onHover={showDay} />
                <ul class="usage-chart-legend" aria-label="Legend">
                  {rows.map((row) => (
                    <li key={row.id}>
                      <span class="usage-chart-swatch" style={{ background: row.color }} aria-hidden="true" />
                      <span class="usage-chart-name">{row.label}</span>
                      <span class="usage-chart-total">{formatValue(picks.metric, row.total)}</span>
                    </li>
                  ))}
                </ul>
              </>
            ) : (
              <SmallMultiples days={days} rows={rows} metric={picks.metric} label={summary} onHover={showDay} />
            )}
            <p class="usage-chart-readout" ref={readoutRef} aria-hidden="true" />
          </div>
        </>
      )}
    </section>
  );
}

interface PlotProps {
  days: number[];
  metric: ChartMetric;
  onHover: (index: number | null | undefined) => void;
}

function StackedBars({ days, rows, metric, label, onHover }: PlotProps & { rows: Row[]; label: string }) {
  // uPlot does not stack: each bar is drawn from zero to the running sum, the top one first, so
  // every group's colour shows as its own band.
  const stacked = useMemo(() => {
    const sums: number[][] = [];
    rows.forEach((row, r) => sums.push(row.values.map((v, i) => v + (r ? sums[r - 1][i] : 0))));
    const series = rows.map((row, r) => ({ color: row.color, label: row.label, values: sums[r] })).reverse();
    return { series, max: Math.max(0, ...(sums[sums.length - 1] ?? [])) };
  }, [rows]);
  return (
    <BarPlot
      days={days}
      series={stacked.series}
      yMax={stacked.max}
      height={STACKED_HEIGHT}
      metric={metric}
      yLabel={metric === 'cost' ? 'Cost (USD)' : labelOf(METRICS, metric)}
      label={label}
      onHover={onHover}
    />
  );
}

function SmallMultiples({ days, rows, metric, label, onHover }: PlotProps & { rows: Row[]; label: string }) {
  // One y scale for all: a glance compares heights across the charts.
  const yMax = useMemo(() => Math.max(0, ...rows.flatMap((row) => row.values)), [rows]);
  const series = useMemo(() => rows.map((row) => [{ color: row.color, label: row.label, values: row.values }]), [rows]);
  return (
    <ul class="usage-multiples" aria-label={label}>
      {rows.map((row, r) => (
        <li key={row.id} class="usage-multiple" data-label={row.label} data-total={row.total}>
          <h3 class="usage-multiple-title">
            <span class="usage-chart-swatch" style={{ background: row.color }} aria-hidden="true" />
            <span class="usage-chart-name">{row.label}</span>
            <span class="usage-chart-total">{formatValue(metric, row.total)}</span>
          </h3>
          <BarPlot
            days={days}
            series={series[r]}
            yMax={yMax}
            height={MULTIPLE_HEIGHT}
            metric={metric}
            label={`${labelOf(METRICS, metric)} per day of ${row.label}: ${formatValue(metric, row.total)} in all`}
            onHover={onHover}
            sync="usage-multiples"
          />
        </li>
      ))}
    </ul>
  );
}

interface BarPlotProps extends PlotProps {
  /** Drawn in this order, each from zero; later bars cover earlier ones. */
  series: { color: string; label: string; values: number[] }[];
  yMax: number;
  height: number;
  yLabel?: string;
  label: string;
  /** Charts with one key share the cursor. */
  sync?: string;
}

/** Bars per day with uPlot, on the page's x range (each day ± half a day). */
function BarPlot({ days, series, yMax, height, metric, yLabel, label, onHover, sync }: BarPlotProps) {
  const host = useRef<HTMLDivElement>(null);
  // The latest onHover for uPlot's cursor hook, set after each render (never during it).
  const hoverRef = useRef(onHover);
  useLayoutEffect(() => {
    hoverRef.current = onHover;
  });

  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const width = () => Math.max(element.clientWidth, 200);
    const bars = uPlot.paths.bars!({ size: [0.7, 48], align: 0 });
    const options: uPlot.Options = {
      width: width(),
      height,
      legend: { show: false },
      cursor: {
        y: false,
        points: { show: false },
        drag: { x: false, y: false },
        ...(sync ? { sync: { key: sync } } : {}),
      },
      scales: {
        x: days.length
          ? { time: true, auto: false, range: [days[0] - 43200, days[days.length - 1] + 43200] }
          : { time: true },
        y: { auto: false, range: [0, yMax > 0 ? yMax * 1.08 : 1] },
      },
      axes: [
        { space: 60 },
        {
          label: yLabel,
          labelSize: yLabel ? 20 : 0,
          size: metric === 'cost' ? 64 : 48,
          space: height < 200 ? 24 : 30,
          values: (_u, splits) => splits.map((v) => formatTick(metric, v)),
        },
      ],
      hooks: {
        // The drawn ranges, for tests and tools that cannot read the canvas.
        draw: [
          (u) => {
            element.dataset.xRange = `${u.scales.x.min ?? ''},${u.scales.x.max ?? ''}`;
            element.dataset.yMax = String(u.scales.y.max ?? '');
          },
        ],
        setCursor: [(u) => hoverRef.current(u.cursor.idx)],
      },
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: '#ffffff',
          width: 1,
          fill: s.color,
          paths: bars,
          points: { show: false },
        })),
      ],
    };
    const chart = new uPlot(options, [days, ...series.map((s) => s.values)], element);
    const observer = new ResizeObserver(() => chart.setSize({ width: width(), height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
    };
  }, [days, series, yMax, height, metric, yLabel, sync]);

  return <div ref={host} class="usage-chart-plot" role="img" aria-label={label} />;
}
