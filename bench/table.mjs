// The report: one markdown row per driver × backend. Absolute times drift from machine to machine,
// so the headline figures also carry their ratio to `direct` (the physical limit, same run, same
// backend) and to the best peer for that figure (lowest time or memory, highest calls/s).
import { summary } from './stats.mjs';

/** The figures of one driver, from its raw results. */
export function figures(kind, r) {
  const session = summary(r.session);
  const call = summary(r.call);
  return {
    kind,
    sessionP50: session.p50,
    sessionP95: session.p95,
    sessions: session.n,
    callP50: call.p50,
    callP99: call.p99,
    calls: call.n,
    rate: r.throughput.ms > 0 ? (r.throughput.calls / r.throughput.ms) * 1000 : NaN,
    serverCpuUs: r.throughput.calls > 0 ? (r.throughput.serverCpuMs / r.throughput.calls) * 1000 : NaN,
    clientCpuUs: r.throughput.calls > 0 ? (r.throughput.clientCpuMs / r.throughput.calls) * 1000 : NaN,
    processesPerSession: r.memory?.processesPerSession,
    rssMb: r.memory ? r.memory.rssKb / 1024 : NaN,
    pssMb: r.memory ? r.memory.pssKb / 1024 : NaN,
    memorySessions: r.memory?.sessions ?? 0,
    vanish: r.vanish,
    errors: r.errors.total,
  };
}

const LOWER_IS_BETTER = { sessionP50: true, callP50: true, rate: false, serverCpuUs: true, pssMb: true };
// Below these a figure is within its own noise, and a ratio against it would be a large random number.
const NOISE_FLOOR = { pssMb: 0.1 };

function best(rows, key) {
  const values = rows.filter((f) => f.kind === 'peer' && Number.isFinite(f[key])).map((f) => f[key]);
  if (values.length === 0) return NaN;
  return LOWER_IS_BETTER[key] ? Math.min(...values) : Math.max(...values);
}

const num = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
// A ratio against a missing base, or one within the noise, says nothing, so none is printed.
const ratio = (v, base, floor = 0) =>
  Number.isFinite(v) && Number.isFinite(base) && base > floor ? `${(v / base).toFixed(2)}×` : '–';

/** `value (×direct, ×best peer)` for the headline columns. */
function cell(rows, f, key, digits) {
  const direct = rows.find((x) => x.kind === 'direct');
  const d = f.kind === 'direct' || !direct ? '–' : ratio(f[key], direct[key], NOISE_FLOOR[key]);
  const p = ratio(f[key], best(rows, key), NOISE_FLOOR[key]);
  return `${num(f[key], digits)} (${d}, ${p})`;
}

/**
 * @param byBackend {{ [backend]: { [driver]: figures } }}
 * @param concurrency sessions in the throughput phase, for the header
 */
export function markdownTable(byBackend, concurrency = 10) {
  const lines = [
    `| backend | driver | new session p50 ms | p95 ms | tools/call p50 ms | p99 ms | added p50 ms | calls/s, ${concurrency} sessions | server CPU µs/call | RSS MB/session | PSS MB/session | children left | errors |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [backend, drivers] of Object.entries(byBackend)) {
    const rows = Object.values(drivers);
    const direct = rows.find((f) => f.kind === 'direct');
    for (const [name, f] of Object.entries(drivers)) {
      const added = direct && f.kind !== 'direct' ? num(f.callP50 - direct.callP50, 3) : '–';
      const left = f.vanish ? vanishCell(f) : '–';
      lines.push(
        `| ${backend} | ${name} | ${cell(rows, f, 'sessionP50', 1)} | ${num(f.sessionP95, 1)} | ` +
          `${cell(rows, f, 'callP50', 3)} | ${num(f.callP99, 3)} | ${added} | ${cell(rows, f, 'rate', 0)} | ${cell(rows, f, 'serverCpuUs', 0)} | ` +
          `${num(f.rssMb, 2)} | ${cell(rows, f, 'pssMb', 2)} | ${left} | ${f.errors} |`,
      );
    }
  }
  return lines.join('\n');
}

/** Sessions left of the clients that vanished; processes too where a session has more than one. */
function vanishCell(f) {
  const { left, clients } = f.vanish;
  const per = f.processesPerSession;
  if (!per || Math.abs(per - 1) < 0.05 || left === 0) return `${left} of ${clients}`;
  return `${+(left / per).toFixed(1)} of ${clients} (${left} processes)`;
}

export const LEGEND = [
  'Ratios in parentheses: (× direct, × best peer), the best peer being the lowest time or memory, or the highest calls/s, among the peers for that backend.',
  '"added p50" is tools/call p50 minus direct\'s. Memory per session = (driver tree with N sessions open − idle tree) / N, from /proc/*/smaps_rollup; for direct, the N server processes themselves.',
  '"server CPU µs/call": CPU time (user + system) of the driver\'s tree during the throughput phase per call; for direct, of the servers. Waiting for a core costs time but not CPU, so this is the figure a busy machine disturbs least.',
  '"children left": sessions (processes) added to the driver\'s tree that are still there after the clients were SIGKILLed without DELETE (direct: its servers still alive).',
].join('\n');
