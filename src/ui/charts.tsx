/** Time-series charts (uPlot: canvas, fast with thousands of points), fed with the store's buckets. */
import type { JSX } from "preact";
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { DecisionBucket } from "../gateway/dashboard-types.js";

export const COLORS = { total: "#475569", allow: "#16a34a", block: "#dc2626", flag: "#d97706", redact: "#7c3aed", p50: "#2563eb", p95: "#db2777" } as const;

interface ChartProps {
  readonly series: readonly DecisionBucket[];
  readonly bucketSeconds: number;
  /** Called with the window the user dragged across, to zoom the whole page to it. */
  readonly onSelect?: (since: string, until: string) => void;
  readonly label: string;
}

function useUplot(container: { current: HTMLDivElement | null }, make: (width: number) => uPlot.Options, data: uPlot.AlignedData, key: string): void {
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const element = container.current;
    if (!element) return undefined;
    const chart = new uPlot(make(Math.max(200, element.clientWidth)), data, element);
    plot.current = chart;
    const observer = new ResizeObserver(() => {
      const width = Math.max(200, element.clientWidth);
      if (Math.abs(width - chart.width) > 1) chart.setSize({ width, height: chart.height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // The chart is rebuilt only when its shape (key) changes; new data goes through setData below.
  }, [key]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
}

const axisFont = "11px system-ui, sans-serif";
const xAxis: uPlot.Axis = { stroke: "#64748b", font: axisFont, size: 50, grid: { stroke: "#e2e8f0", width: 1 }, ticks: { stroke: "#cbd5e1", width: 1 } };
const yAxis = (scale: string, format: (value: number) => string, side?: 1): uPlot.Axis => ({
  scale,
  stroke: "#64748b",
  font: axisFont,
  size: 56,
  ...(side ? { side, grid: { show: false } } : { grid: { stroke: "#e2e8f0", width: 1 } }),
  ticks: { show: false },
  values: (_chart, values) => values.map(format),
});

const times = (series: readonly DecisionBucket[]): number[] => series.map((bucket) => Date.parse(bucket.start) / 1000);

function selectHook(props: { current: ChartProps }): uPlot.Hooks.Arrays {
  return {
    setSelect: [
      (chart) => {
        const { onSelect, bucketSeconds } = props.current;
        if (!onSelect || chart.select.width < 4) return;
        const from = chart.posToVal(chart.select.left, "x");
        const to = chart.posToVal(chart.select.left + chart.select.width, "x");
        chart.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        if (to - from >= bucketSeconds) onSelect(new Date(from * 1000).toISOString(), new Date(to * 1000).toISOString());
      },
    ],
  };
}

export function DecisionsChart(props: ChartProps): JSX.Element {
  const { series, label } = props;
  const container = useRef<HTMLDivElement>(null);
  const latest = useRef(props);
  latest.current = props;
  const data: uPlot.AlignedData = [
    times(series),
    series.map((b) => b.total),
    series.map((b) => b.block),
    series.map((b) => b.flag),
    series.map((b) => b.redact),
    series.map((b) => (b.total ? b.blockRate * 100 : null)),
  ];
  useUplot(
    container,
    (width) => ({
      width,
      height: 220,
      // Fixed padding and axis sizes: the plot area does not move with the fonts (the screenshot test relies on it).
      padding: [12, 0, 0, 0],
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      select: { show: true, left: 0, top: 0, width: 0, height: 0 },
      legend: { live: false },
      scales: { x: { time: true }, n: { range: (_chart, _min, max) => [0, Math.max(4, max * 1.1)] }, rate: { range: [0, 100] } },
      series: [
        {},
        { label: "decisions", scale: "n", stroke: COLORS.total, fill: "rgba(71,85,105,0.10)", width: 1.5, points: { show: false } },
        { label: "blocked", scale: "n", stroke: COLORS.block, fill: "rgba(220,38,38,0.12)", width: 1.5, points: { show: false } },
        { label: "flagged", scale: "n", stroke: COLORS.flag, width: 1.5, points: { show: false } },
        { label: "redacted", scale: "n", stroke: COLORS.redact, width: 1.5, points: { show: false } },
        { label: "block rate", scale: "rate", stroke: COLORS.block, dash: [4, 4], width: 1, points: { show: false }, spanGaps: false },
      ],
      axes: [xAxis, yAxis("n", (v) => String(Math.round(v))), yAxis("rate", (v) => `${Math.round(v)}%`, 1)],
      hooks: selectHook(latest),
    }),
    data,
    "decisions",
  );
  return <div class="chart" ref={container} role="img" aria-label={label} data-chart="decisions" />;
}

export function LatencyChart(props: ChartProps): JSX.Element {
  const { series, label } = props;
  const container = useRef<HTMLDivElement>(null);
  const latest = useRef(props);
  latest.current = props;
  const data: uPlot.AlignedData = [times(series), series.map((b) => (b.latencyUs ? b.latencyUs.p50 / 1000 : null)), series.map((b) => (b.latencyUs ? b.latencyUs.p95 / 1000 : null))];
  useUplot(
    container,
    (width) => ({
      width,
      height: 220,
      padding: [12, 16, 0, 0],
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      legend: { live: false },
      scales: { x: { time: true }, ms: { range: (_chart, _min, max) => [0, Math.max(1, (max ?? 1) * 1.15)] } },
      series: [
        {},
        // Points as well as lines: a bucket between two empty ones would otherwise not show at all.
        { label: "p50", scale: "ms", stroke: COLORS.p50, width: 1.5, points: { show: true, size: 4, fill: COLORS.p50 } },
        { label: "p95", scale: "ms", stroke: COLORS.p95, width: 1.5, points: { show: true, size: 4, fill: COLORS.p95 } },
      ],
      axes: [xAxis, yAxis("ms", (v) => (v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`))],
      hooks: selectHook(latest),
    }),
    data,
    "latency",
  );
  return <div class="chart" ref={container} role="img" aria-label={label} data-chart="latency" />;
}
