import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { History } from './api.js';
import { byId } from './dom.js';

/**
 * The chart of the last hour: online clients and sessions, one point per sample the API replicas
 * took (GET /v1/dashboard/history; one per DASHBOARD_SAMPLE_MS, the same on every replica).
 */
export class HistoryChart {
  private plot: uPlot | null = null;
  private readonly container = byId('chart');
  private readonly note = byId('history-note');

  update(history: History): void {
    const data: uPlot.AlignedData = [
      history.samples.map((sample) => sample.at / 1_000),
      history.samples.map((sample) => sample.onlineClients),
      history.samples.map((sample) => sample.sessions),
    ];
    this.note.textContent = `${history.samples.length} samples, one per ${history.intervalMs / 1_000} s, kept ${Math.round(history.keepMs / 60_000)} min`;
    if (this.plot === null) {
      this.plot = new uPlot(
        {
          width: this.width(),
          height: 220,
          tzDate: (ts) => uPlot.tzDate(new Date(ts * 1_000), 'Etc/UTC'),
          scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
          series: [
            { label: 'time (UTC)' },
            { label: 'online clients', stroke: '#2f7de1', width: 2 },
            { label: 'sessions', stroke: '#e8912d', width: 2 },
          ],
          axes: [{}, { label: '' }],
          legend: { live: false },
        },
        data,
        this.container,
      );
      window.addEventListener('resize', () => this.plot?.setSize({ width: this.width(), height: 220 }));
      return;
    }
    this.plot.setData(data);
  }

  private width(): number {
    return Math.max(300, this.container.clientWidth);
  }
}
