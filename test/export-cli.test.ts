// hopscope export through the command table (as cli/main.ts dispatches it): a selection of journeys, recordings as input, and
// what it refuses. tshark reads the results.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../agent/src/cli/main.ts';
import { syntheticJourney } from '../agent/src/server/__tests__/synthetic.ts';
import { RecordingWriter } from '../agent/src/wiring/recording-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'hopscope-export-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const comments = (file: string) =>
  execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.comment', '-e', 'frame.time_epoch'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .trim()
    .split('\n')
    .map((l) => l.split('\t'));

async function run(args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    return { code: await main(args), err: err.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

describe('hopscope export', () => {
  const lines = join(dir, 'in.jsonl');
  const js = Array.from({ length: 5 }, (_, i) => ({ ...syntheticJourney(i), id: `j${i}` }));
  writeFileSync(lines, js.map((j) => JSON.stringify(j)).join('\n') + '\n');

  it('--journey picks journeys; the file is 0600', async () => {
    const out = join(dir, 'two.pcapng');
    const r = await run(['export', '--pcapng', '--journey', 'j1', '--journey', 'j3', '-o', out, lines]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`2 journeys, ${js[1]!.hops.length + js[3]!.hops.length} packets`);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const ids = new Set(comments(out).map(([c]) => /^journey (\S+) /.exec(c!)?.[1]));
    expect(ids).toEqual(new Set(['j1', 'j3']));
  });

  it('a recording gives wall-clock timestamps', async () => {
    const rec = join(dir, 'r.hsrec');
    const w = new RecordingWriter({ path: rec, source: 'test' });
    w.journeys(js);
    w.close('done');
    const out = join(dir, 'rec.pcapng');
    expect((await run(['export', '--pcapng', '-o', out, rec])).code).toBe(0);
    const t = Number(comments(out)[0]![1]);
    // The synthetic journeys are stamped 1 s after boot: this machine's boot time by the wall clock,
    // not 1970 + 1 s as a file without the recording's clock offset would say.
    expect(t).toBeGreaterThan(1_600_000_000);
    expect(t * 1000).toBeLessThanOrEqual(Date.now());
  });

  it('refuses what it cannot do, saying why', async () => {
    expect(await run(['export', lines])).toMatchObject({ code: 1, err: expect.stringContaining('say the format: --pcapng') as string });
    expect(await run(['export', '--pcapng', '--journey', 'nope', '-o', join(dir, 'x.pcapng'), lines])).toMatchObject({ code: 1, err: expect.stringContaining('no journey "nope" in the input') as string });
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, 'garbage\n');
    expect(await run(['export', '--pcapng', '-o', join(dir, 'y.pcapng'), empty])).toMatchObject({ code: 1, err: expect.stringMatching(/skipped line 1: not JSON[\s\S]*no journeys to export/) as string });
    expect(await run(['export', '--pcapng', '-o', join(dir, 'z.pcapng'), join(dir, 'missing')])).toMatchObject({ code: 1, err: expect.stringContaining('ENOENT') as string });
  });
});
