import { setTimeout as sleep } from 'node:timers/promises';
import { BURST_STREAMS, BurstMemoryRelease } from './burst-memory.js';

const QUIET_MS = 20;

describe('BurstMemoryRelease', () => {
  let collections: number;
  const collect = () => {
    collections += 1;
  };
  beforeEach(() => {
    collections = 0;
  });

  const rampUpAndDown = (release: BurstMemoryRelease, peak: number, end = 0) => {
    for (let n = 1; n <= peak; n++) release.openStreams(n);
    for (let n = peak - 1; n >= end; n--) release.openStreams(n);
  };
  /** Long enough for both collections of a burst. */
  const quiet = () => sleep(QUIET_MS * 5);

  it('collects after a burst has stayed over for the quiet period, and once more later', async () => {
    const release = new BurstMemoryRelease(collect, QUIET_MS);
    rampUpAndDown(release, 1000);
    expect(collections).toBe(0);
    expect(release.scheduled).toBe(true);
    await sleep(QUIET_MS * 1.5);
    expect(collections).toBe(1);
    await sleep(QUIET_MS * 3);
    expect(collections).toBe(2);
    await quiet();
    expect(collections).toBe(2);
    expect(release.scheduled).toBe(false);
  });

  it('does nothing for ordinary traffic below a burst', async () => {
    const release = new BurstMemoryRelease(collect, QUIET_MS);
    for (let i = 0; i < 50; i++) rampUpAndDown(release, BURST_STREAMS - 1);
    expect(release.scheduled).toBe(false);
    await quiet();
    expect(collections).toBe(0);
  });

  it('waits while streams are above a tenth of the peak, and when a new burst starts', async () => {
    const release = new BurstMemoryRelease(collect, QUIET_MS);
    rampUpAndDown(release, 500, 51);
    expect(release.scheduled).toBe(false);
    release.openStreams(50); // a tenth: the burst is over...
    expect(release.scheduled).toBe(true);
    for (let n = 51; n <= 400; n++) release.openStreams(n); // ...but another one starts within the quiet period
    await quiet();
    expect(collections).toBe(0);
    for (let n = 399; n >= 0; n--) release.openStreams(n);
    await quiet();
    expect(collections).toBe(2);
  });

  it('measures the next burst from where the last one ended', async () => {
    const release = new BurstMemoryRelease(collect, QUIET_MS);
    rampUpAndDown(release, 200);
    await quiet();
    rampUpAndDown(release, 60); // not a burst on its own
    await quiet();
    expect(collections).toBe(2);
    rampUpAndDown(release, 150);
    await quiet();
    expect(collections).toBe(4);
  });

  it('is inert when the process has not exposed the collector', () => {
    const release = new BurstMemoryRelease(null, QUIET_MS);
    rampUpAndDown(release, 1000);
    expect(release.scheduled).toBe(false);
  });
});
