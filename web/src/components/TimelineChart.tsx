import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatCost } from '../format';

interface TimelineChartProps {
  /** Day starts, in seconds since the epoch (uPlot's time unit). */
  days: number[];
  requests: number[];
  errors: number[];
  cost: number[];
  label: string;
}

/** Requests, errors (left axis) and cost (right axis) per day, drawn with uPlot on a canvas. */
export function TimelineChart({ days, requests, errors, cost, label }: TimelineChartProps) {
  const host = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const width = () => Math.max(element.clientWidth, 240);
    const options: uPlot.Options = {
      width: width(),
      height: 260,
      // The range asked for, half a day of margin on each side: uPlot's own range for a single
      // day would span years.
      scales: {
        x: days.length
          ? { time: true, auto: false, range: [days[0] - 43200, days[days.length - 1] + 43200] }
          : { time: true },
        count: {},
        usd: {},
      },
      axes: [
        {},
        // Counts are whole numbers: no labels at fractional ticks.
        {
          scale: 'count',
          label: 'Requests',
          values: (_u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : '')),
        },
        // Per-day costs can be fractions of a cent; formatCost keeps two significant digits.
        {
          scale: 'usd',
          side: 1,
          label: 'Cost (USD)',
          grid: { show: false },
          size: 96,
          values: (_u, splits) => splits.map((v) => formatCost(v)),
        },
      ],
      hooks: {
        // The drawn time range, in seconds, for tests and tools that cannot read the canvas.
        draw: [(u) => void (element.dataset.xRange = `${u.scales.x.min ?? ''},${u.scales.x.max ?? ''}`)],
      },
      series: [
        {},
        { label: 'Requests', scale: 'count', stroke: '#2563eb', fill: 'rgba(37,99,235,0.12)', width: 2 },
        { label: 'Errors', scale: 'count', stroke: '#dc2626', width: 2 },
        { label: 'Cost', scale: 'usd', stroke: '#059669', width: 2, value: (_u, v) => formatCost(v) },
      ],
    };
    const chart = new uPlot(options, [days, requests, errors, cost], element);
    const observer = new ResizeObserver(() => chart.setSize({ width: width(), height: 260 }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
    };
  }, [days, requests, errors, cost]);

  return <div ref={host} class="chart" role="img" aria-label={label} />;
}
