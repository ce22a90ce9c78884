// The runner's exit paths with a real agent process: however the agent dies, its bpftrace
// goes with it (setpriv --pdeathsig for SIGKILL, signal hooks for SIGTERM/SIGINT).
import { getEventListeners } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KERNEL_FILTER } from '../agent/src/tracer/kernel-filter.ts';
import { ProgramError } from '../agent/src/tracer/program.ts';
import { removeStaleProgramDirs, startTracer } from '../agent/src/tracer/runner.ts';

const CHILD = new URL('./fixtures/tracer/agent-child.ts', import.meta.url).pathname;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function gone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

async function startAgent(tmp: string): Promise<{ agent: ReturnType<typeof execa>; bpftrace: number }> {
  // A TMPDIR of the test's own: any tracer started on this machine meanwhile (another test
  // file, another run) removes a dead agent's program dir from the shared /tmp before this test
  // can see it was left (one clean-clone run found none).
  const agent = execa('node', ['--import', 'tsx', CHILD], { buffer: false, reject: false, stdin: 'ignore', stderr: 'ignore', env: { TMPDIR: tmp } });
  const bpftrace = await new Promise<number>((resolve, reject) => {
    let out = '';
    agent.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /PID (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void agent.then((r) => reject(new Error(`agent exited early: ${r.exitCode ?? r.signal}`)));
  });
  return { agent, bpftrace };
}

describe('runner exit paths', () => {
  it('SIGKILL of the agent leaves no orphan bpftrace; SIGTERM stops it and still ends the agent', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'hs-runner-exit-'));
    const [k, t] = await Promise.all([startAgent(tmp), startAgent(tmp)]);
    try {
      expect(alive(k.bpftrace)).toBe(true);
      expect(alive(t.bpftrace)).toBe(true);
      process.kill(k.agent.pid!, 'SIGKILL');
      process.kill(t.agent.pid!, 'SIGTERM');
      expect(await gone(k.bpftrace, 3000)).toBe(true);
      expect(await gone(t.bpftrace, 5000)).toBe(true);
      const r = await Promise.race([t.agent, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('agent survived SIGTERM')), 5000))]);
      // bpftrace was stopped and the signal still did its default work.
      expect(r.signal).toBe('SIGTERM');
      // Killed agents leave their program dir behind; the next tracer start removes it.
      const left = (): string[] => readdirSync(tmp).filter((n) => n.startsWith(`hopscope-bpf-${k.agent.pid}-`) || n.startsWith(`hopscope-bpf-${t.agent.pid}-`));
      expect(left().length).toBeGreaterThan(0);
      await removeStaleProgramDirs(tmp);
      expect(left()).toEqual([]);
    } finally {
      for (const p of [k.agent.pid, t.agent.pid, k.bpftrace, t.bpftrace]) if (p && alive(p)) process.kill(p, 'SIGKILL');
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a stop() that lands while a filter change is between two bpftrace runs leaves no bpftrace behind', async () => {
    // (A bpftrace launched after stop kept `hopscope start` from ever exiting on Ctrl-C.)
    const mine = (): number[] =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            const st = readFileSync(`/proc/${d}/stat`, 'utf8');
            return st.includes('(bpftrace)') && Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
          } catch {
            return false;
          }
        })
        .map(Number);
    const netns = [statSync('/proc/self/ns/net').ino];
    const states: string[] = [];
    const abort = new AbortController();
    const t = await startTracer({ filter: { ...DEFAULT_KERNEL_FILTER, netns }, onEvent: () => {}, onStatus: (st) => states.push(st.state), signal: abort.signal });
    try {
      const first = t.pid();
      expect(first).not.toBeNull();
      const changing = t.setFilter({ ...DEFAULT_KERNEL_FILTER, netns, proto: 'icmp' }).catch(() => undefined);
      // The old bpftrace is gone and the new program is being written: stop right then.
      while (t.pid() === first) await new Promise((r) => setImmediate(r));
      await t.stop();
      const stoppedAt = states.length;
      await changing;
      await new Promise((r) => setTimeout(r, 2000));
      // Nothing started after the stop (a launch there would race the program file's removal:
      // a bpftrace that opened the file first would run on with nobody to stop it).
      expect(states.slice(stoppedAt)).toEqual([]);
      expect(states.at(-1)).toBe('stopped');
      expect(t.pid()).toBeNull();
      expect(mine()).toEqual([]);
      // The caller's signal outlives the tracer: stop() took its listener back.
      expect(getEventListeners(abort.signal, 'abort')).toEqual([]);
    } finally {
      for (const p of mine()) process.kill(p, 'SIGKILL');
    }
  });

  it('an invalid filter is refused before anything is made: no program dir, exit hook or abort listener is left', async () => {
    const dirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith(`hopscope-bpf-${process.pid}-`));
    const dirsBefore = dirs();
    const exitHooks = process.listenerCount('exit');
    const abort = new AbortController();
    for (const filter of [{ ...DEFAULT_KERNEL_FILTER, ports: [70000] }, { ...DEFAULT_KERNEL_FILTER, netns: 'x' as never }]) {
      await expect(startTracer({ filter, probeSet: 'tracepoints', onEvent: () => {}, signal: abort.signal })).rejects.toThrow(ProgramError);
    }
    expect(dirs()).toEqual(dirsBefore);
    expect(process.listenerCount('exit')).toBe(exitHooks);
    expect(getEventListeners(abort.signal, 'abort')).toEqual([]);
  });
});
