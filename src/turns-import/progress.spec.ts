import { createProgressDisplay, formatDuration, formatProgressLine } from './progress.js';

describe('legacy import progress', () => {
  it('a plain line has done/total, percentage, rate and ETA', () => {
    const line = formatProgressLine(
      {
        phase: 'import',
        done: 250_000,
        total: 1_000_000,
        dossiersDone: 25_000,
        dossiersTotal: 100_000,
        startedAt: 0,
      },
      50_000,
    );
    expect(line).toBe(
      'import: 250,000/1,000,000 turns (25.0%), 5,000 turns/s, ETA 2m30s, dossiers 25,000/100,000',
    );
  });

  it('durations read naturally', () => {
    expect([formatDuration(4_400), formatDuration(150_000), formatDuration(3_720_000)]).toEqual([
      '4s',
      '2m30s',
      '1h02m',
    ]);
  });

  it('off a terminal it prints the first update, then at most one line per interval, and the last one on stop', () => {
    const lines: string[] = [];
    const display = createProgressDisplay(
      { write: (text) => lines.push(text), isTTY: false },
      { intervalMs: 60_000 },
    );
    const p = {
      phase: 'import' as const,
      total: 100,
      dossiersDone: 0,
      dossiersTotal: 10,
      startedAt: Date.now(),
    };
    display.update({ ...p, done: 0 });
    display.update({ ...p, done: 40 });
    display.update({ ...p, done: 100 });
    display.stop();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^import: 0\/100 turns/);
    expect(lines[1]).toMatch(/^import: 100\/100 turns \(100\.0%\)/);
  });
});
