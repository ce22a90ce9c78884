// The overhead bench's per-program figures, on the real kernel: real bpftrace, real bpftool,
// kernel.bpf_stats_enabled. A count-only program on netif_receive_skb is found by its owner
// (this process's bpftrace child), pings over a netns's loopback make it run, and the counters
// read around them attribute at least those runs to it; the sysctl is back as it was after.
import { execa, type ResultPromise } from 'execa';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import { attachedProgs, descendantPids, progCosts, progCounters, withBpfStats, type AttachedProg } from '../bench/bpf-stats.ts';
import { addNetns, deleteNetns, sh } from './netns-helpers.ts';

const NS = `bs${process.pid.toString(36)}${Math.random().toString(36).slice(2, 5)}`;
const PINGS = 200;
let child: ResultPromise | undefined;

afterAll(async () => {
  if (child?.pid) process.kill(child.pid, 'SIGTERM');
  await child;
  deleteNetns([NS]);
});

it('attributes a program its runs and run time while stats are on, and puts the sysctl back', async () => {
  deleteNetns([NS]);
  addNetns([NS]);
  sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  child = execa('bpftrace', ['-e', 'BEGIN { printf("ready\\n"); } tracepoint:net:netif_receive_skb { @c = count(); }'], { buffer: false, stdin: 'ignore', stdout: 'pipe', stderr: 'ignore', reject: false });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('bpftrace did not start')), 30_000);
    createInterface({ input: child!.stdout! }).on('line', (l) => {
      if (l === 'ready') {
        clearTimeout(t);
        resolve();
      }
    });
  });
  const mine = descendantPids(process.pid, 'bpftrace');
  expect(mine).toEqual([child.pid]);
  const progs: AttachedProg[] = (await attachedProgs()).filter((p) => mine.includes(p.pid));
  expect(progs.map((p) => p.hook)).toContain('netif_receive_skb');

  const sysctl = (): string => readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
  const was = sysctl();
  const costs = await withBpfStats(async () => {
    expect(sysctl()).toBe('1');
    const before = await progCounters();
    const t0 = performance.now();
    await execa('ip', ['netns', 'exec', NS, 'ping', '-q', '-c', String(PINGS), '-i', '0.002', '127.0.0.1']);
    const after = await progCounters();
    return progCosts(progs, before, after, (performance.now() - t0) / 1000);
  });
  expect(sysctl()).toBe(was);
  const rx = costs.find((c) => c.hook === 'netif_receive_skb');
  // Each ping is a request and a reply received over lo; other traffic on the machine only adds.
  expect(rx?.runs).toBeGreaterThanOrEqual(2 * PINGS);
  expect(rx!.nsPerRun).toBeGreaterThan(0);
  expect(rx!.nsPerS).toBeCloseTo(rx!.nsPerRun * rx!.runsPerS, 0);
  expect(() => progCosts(progs, new Map(), new Map(), 0)).toThrow(/longer than 0 s/);
}, 60_000);
