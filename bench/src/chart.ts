import type { BenchResults } from './report.js';
import { DETECTION_TIMING } from './scenario-detection.js';

const DESIGNS: { key: string; label: string; color: string; dash?: string }[] = [
  { key: 'ours', label: 'ours (SSE)', color: '#1f77b4' },
  { key: 'keyspace', label: 'key TTL + keyspace notifications', color: '#d62728' },
  { key: 'keyspaceFilled', label: 'key TTL + keyspace, many long-TTL keys', color: '#ff7f0e', dash: '6 3' },
  { key: 'mosquitto', label: 'Mosquitto keepalive + will', color: '#2ca02c' },
];
const CASES = [
  { key: 'a', title: '(a) silent client', bound: DETECTION_TIMING.HEARTBEAT_TIMEOUT_MS + 300 },
  { key: 'b', title: '(b) socket closed', bound: 100 },
  { key: 'c', title: '(c) server SIGKILL', bound: DETECTION_TIMING.SESSION_TTL_MS + DETECTION_TIMING.SWEEP_INTERVAL_MS + 300 },
];

/**
 * An SVG of the detection-latency distributions (cumulative, log time axis), one panel per case,
 * with the target bound as a dashed line. Samples of all runs are pooled; clients that never got a
 * notification keep the curve below 1.
 */
export function renderDetectionChart(results: BenchResults): string | null {
  const runs = results.scenarios.detection ?? [];
  if (runs.length === 0) return null;
  const pooled = (key: string) => runs.flatMap((r) => r.samples?.[key] ?? []);
  const dyingOf = (key: string) => runs.reduce((s, r) => s + (r.metrics[`${key}.dying`] ?? 0), 0);
  const width = 1060;
  const panelW = 300;
  const panelH = 230;
  const left = 50;
  const top = 40;
  const minX = 1;
  const maxX = 120_000;
  const lx = (ms: number) => (Math.log10(Math.max(minX, Math.min(maxX, ms))) - Math.log10(minX)) / (Math.log10(maxX) - Math.log10(minX));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + panelH + 120}" font-family="sans-serif" font-size="11">`,
  );
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(
    `<text x="${left}" y="18" font-size="14" font-weight="bold">Detection latency: death → offline notification (cumulative share of dying clients; ${results.label})</text>`,
  );
  CASES.forEach((kase, i) => {
    const x0 = left + i * (panelW + 45);
    const px = (ms: number) => x0 + lx(ms) * panelW;
    const py = (f: number) => top + (1 - f) * panelH;
    parts.push(`<rect x="${x0}" y="${top}" width="${panelW}" height="${panelH}" fill="none" stroke="#888"/>`);
    parts.push(`<text x="${x0}" y="${top - 6}" font-weight="bold">${kase.title}</text>`);
    for (const tick of [1, 10, 100, 1_000, 10_000, 100_000]) {
      parts.push(`<line x1="${px(tick)}" y1="${top}" x2="${px(tick)}" y2="${top + panelH}" stroke="#eee"/>`);
      parts.push(
        `<text x="${px(tick)}" y="${top + panelH + 14}" text-anchor="middle">${tick >= 1_000 ? `${tick / 1_000} s` : `${tick} ms`}</text>`,
      );
    }
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      parts.push(`<line x1="${x0}" y1="${py(f)}" x2="${x0 + panelW}" y2="${py(f)}" stroke="#eee"/>`);
      if (i === 0) parts.push(`<text x="${x0 - 4}" y="${py(f) + 4}" text-anchor="end">${f}</text>`);
    }
    parts.push(
      `<line x1="${px(kase.bound)}" y1="${top}" x2="${px(kase.bound)}" y2="${top + panelH}" stroke="#000" stroke-dasharray="3 3"/>`,
    );
    parts.push(`<text x="${px(kase.bound) + 3}" y="${top + panelH - 4}" fill="#000">target ${kase.bound} ms</text>`);
    for (const design of DESIGNS) {
      const key = `${design.key}.${kase.key}`;
      const samples = pooled(key).sort((a, b) => a - b);
      const dying = dyingOf(key);
      if (dying === 0) continue;
      const points: string[] = [`${px(samples[0] ?? maxX)},${py(0)}`];
      samples.forEach((ms, k) => {
        points.push(`${px(ms)},${py(k / dying)}`, `${px(ms)},${py((k + 1) / dying)}`);
      });
      points.push(`${px(maxX)},${py(samples.length / dying)}`);
      parts.push(
        `<polyline fill="none" stroke="${design.color}" stroke-width="2"${design.dash ? ` stroke-dasharray="${design.dash}"` : ''} points="${points.join(' ')}"/>`,
      );
    }
  });
  DESIGNS.forEach((design, i) => {
    const y = top + panelH + 40 + i * 16;
    parts.push(
      `<line x1="${left}" y1="${y - 4}" x2="${left + 30}" y2="${y - 4}" stroke="${design.color}" stroke-width="2"${design.dash ? ` stroke-dasharray="${design.dash}"` : ''}/>`,
    );
    parts.push(`<text x="${left + 36}" y="${y}">${design.label}</text>`);
  });
  parts.push(
    `<text x="${left + 420}" y="${top + panelH + 40}">x: ms from death, log scale; a curve that stays below 1: clients not notified within the wait</text>`,
  );
  parts.push(`<text x="${left + 420}" y="${top + panelH + 56}">y: share of the dying clients notified</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
