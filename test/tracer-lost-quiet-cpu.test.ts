// Loss is reported even on a CPU that goes quiet after the burst that overflowed its ring. The
// kernel writes a ring's "lost" record only with the next event on that ring, and the program's
// interval probes all run on CPU 0: a flood pinned to another CPU, while bpftrace cannot read,
// then silence there, used to lose its events without any "Lost" line (measured 2.3M). Real
// bpftrace on the real kernel, two network namespaces made here (unique names, removed after).
import { execa } from 'execa';
import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TraceEvent } from '../agent/src/protocol/events.ts';
import { DEFAULT_KERNEL_FILTER } from '../agent/src/tracer/kernel-filter.ts';
import { startTracer, type Tracer } from '../agent/src/tracer/runner.ts';
import { addNetns, deleteNetns, vethPair } from './netns-helpers.ts';
import { waitFor } from './trace-helpers.ts';

const P = `lq${process.pid.toString(36)}${Math.random().toString(36).slice(2, 5)}`;
const NS = { a: `${P}a`, b: `${P}b` };
const B = '10.219.0.2';
// The last CPU: never the one the interval probes run on (CPU 0).
const CPU = availableParallelism() - 1;

const events: TraceEvent[] = [];
let tracer: Tracer | undefined;

beforeAll(async () => {
  deleteNetns(Object.values(NS));
  const inodes = addNetns(Object.values(NS));
  vethPair({ ns: NS.a, dev: 'aB', addr: '10.219.0.1/24' }, { ns: NS.b, dev: 'bA', addr: `${B}/24` });
  // Every packet printed at every hop: the flood overflows the ring while bpftrace is stopped.
  tracer = await startTracer({ filter: { ...DEFAULT_KERNEL_FILTER, netns: inodes, everyPacket: true }, onEvent: (e) => events.push(e) });
}, 120_000);

afterAll(async () => {
  const pid = tracer?.pid();
  if (pid) process.kill(pid, 'SIGCONT');
  await tracer?.stop();
  deleteNetns(Object.values(NS));
});

it('reports what a full ring lost on a CPU that is quiet afterwards: every hop printed is decoded or counted lost', async () => {
  expect(CPU, 'needs a second CPU to flood').toBeGreaterThan(0);
  const pid = tracer!.pid()!;
  process.kill(pid, 'SIGSTOP');
  let flood;
  try {
    // Pinned: ping and the softirqs that carry its packets through the veth pair run on CPU.
    flood = await execa('taskset', ['-c', String(CPU), 'ip', 'netns', 'exec', NS.a, 'ping', '-f', '-q', '-c', '50000', '-w', '2', B], { reject: false });
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const sent = Number(/(\d+) packets transmitted/.exec(flood.stdout)?.[1] ?? 0);
  expect(sent, flood.stderr).toBeGreaterThan(5000);
  // Each echo and reply is printed at 2 hops: far more than the ring holds.
  const tally = () => {
    let printed = 0;
    let hops = 0;
    let lost = 0;
    for (const e of events) {
      if (e.type === 'sampled') printed += e.printed;
      else if (e.type === 'hop') hops++;
      else if (e.type === 'lost') lost += e.count;
    }
    return { printed, hops, lost };
  };
  await waitFor('reports that account for every printed line', () => {
    const t = tally();
    return t.printed >= sent * 4 && t.printed <= t.hops + t.lost ? t : undefined;
  }, 15_000).catch(() => undefined);
  const t = tally();
  expect(t.printed).toBeGreaterThanOrEqual(sent * 4);
  // The lost count also covers the free lines (each followed skb's), which no report counts.
  expect(t.printed - t.hops, `hop lines printed ${t.printed}, decoded ${t.hops}; lost ${t.lost}`).toBeLessThanOrEqual(t.lost);
  expect(t.printed - t.hops).toBeGreaterThan(0);
}, 60_000);
