import cliProgress from 'cli-progress';
import type { ImportProgress } from './legacy-import.types.js';

/** Where progress goes: stderr, or anything with write() in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressDisplay {
  update(progress: ImportProgress): void;
  stop(): void;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function unitOf(p: ImportProgress): string {
  return p.phase === 'import' ? 'turns' : 'dossiers';
}

function rateOf(p: ImportProgress, now: number): number {
  const seconds = (now - p.startedAt) / 1000;
  return seconds > 0 ? p.done / seconds : 0;
}

/** Time left at the average rate so far: "?" before anything is done. */
function etaOf(p: ImportProgress, now: number): string {
  if (p.done >= p.total) return '0s';
  const rate = rateOf(p, now);
  return rate > 0 ? formatDuration(((p.total - p.done) / rate) * 1000) : '?';
}

/** One plain progress line: what a log file or a CI job shows. */
export function formatProgressLine(p: ImportProgress, now = Date.now()): string {
  const rate = rateOf(p, now);
  const percent = p.total > 0 ? ((100 * p.done) / p.total).toFixed(1) : '100.0';
  const eta = etaOf(p, now);
  const dossiers = p.phase === 'import' ? `, dossiers ${fmt(p.dossiersDone)}/${fmt(p.dossiersTotal)}` : '';
  return `${p.phase}: ${fmt(p.done)}/${fmt(p.total)} ${unitOf(p)} (${percent}%), ${fmt(rate)} ${unitOf(p)}/s, ETA ${eta}${dossiers}`;
}

/**
 * A progress bar with rate and ETA on a terminal; otherwise a plain line every `intervalMs` (and one at the
 * end), so logs stay readable. Everything goes to `stream` (stderr), leaving stdout to the summary.
 */
export function createProgressDisplay(
  stream: ProgressStream,
  options: { intervalMs?: number; tty?: boolean } = {},
): ProgressDisplay {
  const tty = options.tty ?? Boolean(stream.isTTY);
  return tty ? barDisplay(stream) : lineDisplay(stream, options.intervalMs ?? 10_000);
}

function barDisplay(stream: ProgressStream): ProgressDisplay {
  let bar: cliProgress.SingleBar | undefined;
  let phase: ImportProgress['phase'] | undefined;
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    update(p) {
      const payload = {
        phase: p.phase.padEnd(6),
        unit: unitOf(p),
        rate: fmt(rateOf(p, Date.now())),
        eta: etaOf(p, Date.now()),
        dossiers: p.phase === 'import' ? ` | dossiers ${fmt(p.dossiersDone)}/${fmt(p.dossiersTotal)}` : '',
        doneFmt: fmt(p.done),
        totalFmt: fmt(p.total),
      };
      if (!bar || phase !== p.phase) {
        stop();
        phase = p.phase;
        bar = new cliProgress.SingleBar(
          {
            stream: stream as NodeJS.WritableStream,
            format:
              '{phase} {bar} {percentage}% | {doneFmt}/{totalFmt} {unit} | {rate} {unit}/s | ETA {eta}{dossiers}',
            hideCursor: true,
            fps: 5,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Math.max(p.total, 1), p.done, payload);
        return;
      }
      bar.setTotal(Math.max(p.total, 1));
      bar.update(p.done, payload);
    },
    stop,
  };
}

function lineDisplay(stream: ProgressStream, intervalMs: number): ProgressDisplay {
  let last: ImportProgress | undefined;
  let printed: ImportProgress | undefined;
  let printedAt = 0;
  const print = (p: ImportProgress, now: number) => {
    stream.write(`${formatProgressLine(p, now)}\n`);
    printed = p;
    printedAt = now;
  };
  return {
    update(p) {
      last = p;
      const now = Date.now();
      if (!printed || printed.phase !== p.phase || now - printedAt >= intervalMs) print(p, now);
    },
    stop() {
      if (last && last !== printed) print(last, Date.now());
      last = printed = undefined;
    },
  };
}
