// The recording source: plays at the recorded pace (scaled), all at once, from a point; waits for
// an audience; its status and topology follow the play position; damaged recordings play what
// was readable and never throw.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRecordingBytes, readRecordingFile, RecordingWriter } from '../wiring/recording-file.ts';
import { recordingSource } from './recording-source.ts';
import { syntheticJourney } from './__tests__/synthetic.ts';
import { seededRandom } from '../tracer/__tests__/seeded-random.ts';
import type { Journey } from '../protocol/events.ts';
import type { AgentStatus, TopologyView } from '../protocol/messages.ts';
import type { SourceStatus } from './source.ts';

const dir = mkdtempSync(join(tmpdir(), 'hopscope-recsrc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const topo = (name: string): TopologyView => ({ name, cni: 'flannel-vxlan', nodes: [], pods: [], services: [], externals: [], deployments: [] });
const status = (lost: number): AgentStatus => ({
  tracer: 'running',
  probeSet: 'tracepoints',
  bpftraceVersion: '0.17.0',
  sampling: { enabled: true, description: 'first 8', suppressed: 0 },
  counters: { eventsIn: lost * 10, journeysOut: 0, lostEvents: lost, bpftraceRestarts: 0, dropped: {}, clients: 0 },
  lab: null,
});

/** 10 journeys over 1 s of recorded time (one per 100 ms), a topology change half way. */
function sample(path: string): void {
  let now = 1_000_000;
  const w = new RecordingWriter({ path, source: 'lab t (flannel-vxlan)', now: () => now });
  w.setTopology(topo('before'), []);
  for (let i = 0; i < 10; i++) {
    now += 100;
    if (i === 5) w.setTopology(topo('after'), []);
    w.journeys([syntheticJourney(i)]);
    w.status(status(i));
  }
  w.close('done');
}

async function play(path: string, opts: Parameters<typeof recordingSource>[1], until: (got: Journey[], s: SourceStatus) => boolean, timeoutMs = 5000) {
  const rec = await readRecordingFile(path);
  const src = recordingSource(rec, opts);
  const got: Journey[] = [];
  const seen: { at: number; n: number }[] = [];
  const t0 = Date.now();
  let last: SourceStatus | undefined;
  await src.start({ onJourney: (j) => got.push(j), onStatus: (s) => (last = s) });
  while (!until(got, last ?? src.status()) && Date.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, 20));
    seen.push({ at: Date.now() - t0, n: got.length });
  }
  await src.stop();
  return { got, seen, src, elapsed: Date.now() - t0, status: last ?? src.status() };
}

describe('recording source', () => {
  const path = join(dir, 'r.hsrec');
  sample(path);

  it('waits for an audience, then plays at the recorded pace (scaled) and ends', async () => {
    let watching = false;
    setTimeout(() => (watching = true), 200);
    const r = await play(path, { speed: 2, audience: () => watching }, (_, s) => s.recording?.state === 'ended');
    expect(r.got.map((j) => j.id)).toEqual(Array.from({ length: 10 }, (_, i) => syntheticJourney(i).id));
    expect(r.seen.filter((x) => x.at < 150).every((x) => x.n === 0)).toBe(true);
    // 1 s of recorded time at ×2 after a 200 ms wait: not all at once.
    expect(r.elapsed).toBeGreaterThan(500);
    expect(r.status.recording).toMatchObject({ source: 'lab t (flannel-vxlan)', startedMs: 1_000_000, played: 10, journeys: 10, speed: 2, state: 'ended' });
    expect(r.status.counters.lostEvents).toBe(9);
    expect(r.src.topology()?.name).toBe('after');
  });

  it('--jump delivers everything at once; --start skips ahead with what came before delivered first', async () => {
    const all = await play(path, { speed: 0, audience: () => true }, (g) => g.length === 10);
    expect(all.got).toHaveLength(10);
    expect(all.elapsed).toBeLessThan(1000);
    let first: { n: number; topology?: string; lost: number } | undefined;
    const mid = await play(path, { speed: 1, startAtS: 0.45, audience: () => true }, (g, s) => {
      // The start delivered the four journeys before 0.45 s at once, and stands at 0.45 s.
      first ??= { n: g.length, lost: s.counters.lostEvents };
      return g.length >= 6;
    }, 3000);
    expect(first).toEqual({ n: 4, lost: 3 });
    expect(mid.got).toHaveLength(6);
    // the fifth and sixth come at their recorded pace: 50 and 150 ms after the start point
    expect(mid.elapsed).toBeGreaterThanOrEqual(100);
  });

  it('never plays without an audience', async () => {
    const r = await play(path, { speed: 0 }, () => false, 300);
    expect(r.got).toHaveLength(0);
    expect(r.status.recording?.state).toBe('waiting');
  });

  it('fuzz: whatever a damaged recording still holds plays to its end without throwing', async () => {
    const good = readFileSync(path);
    const rnd = seededRandom(61);
    let played = 0;
    for (let round = 0; round < 60; round++) {
      const bytes = Buffer.from(good.subarray(0, rnd(good.length + 1)));
      for (let k = 0; k < rnd(3); k++) bytes[rnd(bytes.length || 1)] = rnd(256);
      const rec = await readRecordingBytes(bytes).catch((e: Error) => e);
      if (rec instanceof Error) {
        expect(rec.message).toMatch(/recording|header/);
        continue;
      }
      const src = recordingSource(rec, { speed: 0, audience: () => true });
      const got: Journey[] = [];
      await src.start({ onJourney: (j) => got.push(j), onStatus: () => undefined });
      await new Promise((r) => setTimeout(r, 60));
      await src.stop();
      expect(got).toHaveLength(rec.journeys.length);
      expect(src.status().recording?.state).toBe('ended');
      played++;
    }
    expect(played).toBeGreaterThan(10);
  });

  it('replay controls: pause holds the position, play resumes from it at a new pace, end delivers the rest', async () => {
    const rec = await readRecordingFile(path);
    const src = recordingSource(rec, { speed: 1, audience: () => true });
    expect(src.replay!({ control: 'pause' })).toBe('the replay has not started yet');
    const got: Journey[] = [];
    let last: SourceStatus | undefined;
    await src.start({ onJourney: (j) => got.push(j), onStatus: (s) => (last = s) });
    await new Promise((r) => setTimeout(r, 250));
    expect(src.replay!({ control: 'pause' })).toBeUndefined();
    const held = got.length;
    expect(held).toBeGreaterThanOrEqual(1);
    expect(held).toBeLessThan(10);
    expect(last?.recording?.state).toBe('paused');
    await new Promise((r) => setTimeout(r, 400));
    expect(got).toHaveLength(held);
    // ×100 from where it stood: the rest within a few ticks, nothing twice.
    expect(src.replay!({ control: 'play', speed: 100 })).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(got.map((j) => j.id)).toEqual(Array.from({ length: 10 }, (_, i) => syntheticJourney(i).id));
    expect(src.status().recording).toMatchObject({ state: 'ended', speed: 100 });
    await src.stop();

    const waiting = recordingSource(rec, { speed: 1 });
    await waiting.start({ onJourney: () => undefined, onStatus: () => undefined });
    expect(waiting.replay!({ control: 'end' })).toBe('the replay has not started yet');
    await waiting.stop();
    const ending = recordingSource(rec, { speed: 1, audience: () => true });
    const all: Journey[] = [];
    await ending.start({ onJourney: (j) => all.push(j), onStatus: () => undefined });
    expect(ending.replay!({ control: 'end' })).toBeUndefined();
    await new Promise((r) => setTimeout(r, 120));
    expect(all).toHaveLength(10);
    await ending.stop();
  });
});
