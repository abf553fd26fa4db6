import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatDuration } from "../lib/format";
import type { TraceRow } from "../lib/query";

/**
 * Duration over start time across the searched window, one point per trace; clicking a point
 * opens the trace.
 */
export function Scatter({
  rows,
  window,
  onPick,
}: {
  rows: TraceRow[];
  window: { startSeconds: number; endSeconds: number };
  onPick: (traceId: string) => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  const pick = useRef(onPick);
  pick.current = onPick;
  useEffect(() => {
    const el = host.current;
    if (!el || rows.length === 0) return;
    const points = [...rows].sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
    const xs = points.map((r) => Number(r.startNs / 1_000_000n) / 1000);
    const ys = points.map((r) => r.durationMs);
    const plot = new uPlot(
      {
        width: Math.max(300, el.clientWidth),
        height: 160,
        legend: { show: false },
        cursor: { points: { size: 10 }, drag: { x: false, y: false } },
        scales: {
          // The searched window, not the points' own span (one point would stretch to years).
          x: { time: true, range: () => [window.startSeconds, window.endSeconds] },
          y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
        },
        axes: [{}, { values: (_u, vals) => vals.map((v) => formatDuration(v * 1e6)), size: 60 }],
        series: [
          {},
          {
            label: "duration",
            stroke: "#4e79a7",
            paths: () => null,
            points: { show: true, size: 7, fill: "#4e79a7" },
          },
        ],
      },
      [xs, ys],
      el,
    );
    const click = () => {
      const i = plot.cursor.idx;
      if (i !== null && i !== undefined && points[i]) pick.current(points[i].traceId);
    };
    plot.over.addEventListener("click", click);
    const resize = () => plot.setSize({ width: Math.max(300, el.clientWidth), height: 160 });
    addEventListener("resize", resize);
    return () => {
      removeEventListener("resize", resize);
      plot.destroy();
    };
  }, [rows, window.startSeconds, window.endSeconds]);
  return <div class="scatter" ref={host} aria-label="Trace durations over time" />;
}
