// Recording files on a real file system: written, read back, cut at every byte, damaged at random,
// rotated, private, and written by a process killed mid-write.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { readRecordingBytes, readRecordingFile, RecordingWriter, startRecorder } from './recording-file.ts';
import { syntheticJourney } from '../server/__tests__/synthetic.ts';
import { seededRandom } from '../tracer/__tests__/seeded-random.ts';
import type { AgentStatus, TopologyView } from '../protocol/messages.ts';

const dir = mkdtempSync(join(tmpdir(), 'hopscope-rec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOPO: TopologyView = {
  name: 'demo',
  cni: 'flannel-vxlan',
  nodes: [{ name: 'node-1', address: '10.0.0.1' }],
  pods: [{ namespace: 'default', name: 'client', node: 'node-1', ip: '10.244.1.2' }],
  services: [],
  externals: [],
  deployments: [],
};
const STATUS: AgentStatus = {
  tracer: 'running',
  probeSet: 'tracepoints',
  bpftraceVersion: null,
  sampling: { enabled: false, description: 'every packet', suppressed: 0 },
  counters: { eventsIn: 10, journeysOut: 3, lostEvents: 2, bpftraceRestarts: 0, dropped: {}, clients: 0 },
  lab: null,
};

function writeSample(path: string, journeys: number, perRecord = 5): RecordingWriter {
  let t = 1_700_000_000_000;
  const w = new RecordingWriter({ path, source: 'lab demo (flannel-vxlan)', now: () => (t += 100) });
  w.setTopology(TOPO, [{ ip: '10.244.1.2', kind: 'pod', namespace: 'default', name: 'client', node: 'node-1' }]);
  for (let i = 0; i < journeys; i += perRecord) {
    w.journeys(Array.from({ length: Math.min(perRecord, journeys - i) }, (_, k) => syntheticJourney(i + k)));
    w.status({ ...STATUS, counters: { ...STATUS.counters, lostEvents: i } });
  }
  return w;
}

describe('recording files', () => {
  it('writes the topology again only when it changed (the recorder samples it every second)', async () => {
    const path = join(dir, 'topo.hsrec');
    const w = new RecordingWriter({ path, source: 'test' });
    w.setTopology(TOPO, []);
    w.setTopology({ ...TOPO }, []);
    const moved = { ...TOPO, name: `${TOPO.name}-2` };
    w.setTopology(moved, []);
    w.setTopology(moved, []);
    w.close('done');
    expect((await readRecordingFile(path)).topologies.map((t) => t.topology)).toEqual([TOPO, moved]);
  });
  it('reads back exactly what was written: header, topology, journeys with their times, status over time, end', async () => {
    const path = join(dir, 'whole.hsrec');
    const w = writeSample(path, 23);
    w.close('done');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const r = await readRecordingFile(path);
    expect(r.problems).toEqual([]);
    expect(r.header).toMatchObject({ format: 'hopscope-recording', version: 1, source: 'lab demo (flannel-vxlan)', part: 1 });
    expect(BigInt(r.header!.wallOffsetNs)).toBeGreaterThan(0n);
    expect(r.topologies).toHaveLength(1);
    expect(r.topologies[0]!.topology).toEqual(TOPO);
    expect(r.journeys).toEqual(Array.from({ length: 23 }, (_, i) => syntheticJourney(i)));
    expect(r.journeyTimesMs.every((t, i) => i === 0 || t >= r.journeyTimesMs[i - 1]!)).toBe(true);
    expect(r.statuses.map((s) => s.status.counters.lostEvents)).toEqual([0, 5, 10, 15, 20]);
    expect(r.end?.reason).toBe('done');
    // It is plain gzip'd JSON lines: zcat reads it.
    const lines = gunzipSync(readFileSync(path)).toString().trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'header' });
  });

  it('an existing file is made private when it is overwritten', async () => {
    const path = join(dir, 'old.hsrec');
    writeFileSync(path, 'x', { mode: 0o644 });
    writeSample(path, 1).close('done');
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('cut at every byte: never throws past the header, keeps every complete record, says it was cut short', async () => {
    const path = join(dir, 'cut.hsrec');
    writeSample(path, 6, 1).close('done');
    const bytes = readFileSync(path);
    const whole = await readRecordingBytes(bytes);
    let lastJourneys = 0;
    let headerFrom = -1;
    for (let n = 0; n < bytes.length; n++) {
      let r;
      try {
        r = await readRecordingBytes(bytes.subarray(0, n));
      } catch (e) {
        // Only a file without even its header is refused, and it says so.
        expect(headerFrom).toBe(-1);
        expect((e as Error).message).toMatch(/empty recording|not a readable recording|not a hopscope recording/);
        continue;
      }
      if (headerFrom < 0) headerFrom = n;
      expect(r.journeys.length).toBeGreaterThanOrEqual(lastJourneys);
      expect(r.journeys).toEqual(whole.journeys.slice(0, r.journeys.length));
      lastJourneys = r.journeys.length;
      // Only a cut in the last member's end (its 8-byte trailer, the deflate stream's last bits) still reads the end record.
      if (r.end) expect(n).toBeGreaterThanOrEqual(bytes.length - 10);
      expect(r.problems.join(' ')).toMatch(/cut short|no end record/);
    }
    expect(lastJourneys).toBe(6);
  }, 60_000);

  it('random damage and random files: a clear error or what was readable, never a crash', async () => {
    const path = join(dir, 'fuzz.hsrec');
    writeSample(path, 40, 2).close('done');
    const good = readFileSync(path);
    const rnd = seededRandom(16);
    for (let round = 0; round < 300; round++) {
      let bytes: Buffer;
      const mode = round % 3;
      if (mode === 0) {
        bytes = Buffer.from(good);
        for (let k = 0; k <= rnd(8); k++) bytes[rnd(bytes.length)] = rnd(256);
      } else if (mode === 1) {
        bytes = Buffer.from(Array.from({ length: rnd(4000) }, () => rnd(256)));
        if (round % 2) bytes = Buffer.concat([Buffer.from([0x1f, 0x8b]), bytes]);
      } else {
        bytes = Buffer.concat([good.subarray(0, rnd(good.length)), Buffer.from(Array.from({ length: rnd(500) }, () => rnd(256)))]);
      }
      try {
        const r = await readRecordingBytes(bytes);
        expect(r.header).toBeDefined();
        for (const j of r.journeys) expect(j.type).toBe('journey');
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect((e as Error).message).toMatch(/recording|header|line longer/);
      }
    }
  });

  it('foreign files are refused by name: JSON lines, another format, a newer version', async () => {
    const { gzipSync } = await import('node:zlib');
    await expect(readRecordingBytes(gzipSync('{"type":"journey"}\n'))).rejects.toThrow('not a hopscope recording');
    await expect(readRecordingBytes(gzipSync('hello\n'))).rejects.toThrow('not a hopscope recording');
    const h = { type: 'header', format: 'hopscope-recording', version: 99, startedMs: 1, wallOffsetNs: '1', source: 's', host: 'h', part: 1, writer: 'x' };
    await expect(readRecordingBytes(gzipSync(JSON.stringify(h) + '\n'))).rejects.toThrow('version 99 is newer');
    await expect(readRecordingBytes(Buffer.from('not gzip at all'))).rejects.toThrow('not a readable recording');
  });

  it('rotates by size and by time, keeping N parts that each open on their own', async () => {
    const path = join(dir, 'rot.hsrec');
    let t = 0;
    const w = new RecordingWriter({ path, source: 'x', maxBytes: 3000, keep: 2, now: () => (t += 10) });
    w.setTopology(TOPO, []);
    for (let i = 0; i < 60; i++) w.journeys([syntheticJourney(i)]);
    w.close('done');
    expect(w.stats.parts).toBeGreaterThan(3);
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(existsSync(`${path}.2`)).toBe(true);
    expect(existsSync(`${path}.3`)).toBe(false);
    const parts = [await readRecordingFile(`${path}.2`), await readRecordingFile(`${path}.1`), await readRecordingFile(path)];
    expect(parts.map((p) => p.header!.part)).toEqual([w.stats.parts - 2, w.stats.parts - 1, w.stats.parts]);
    for (const p of parts) {
      expect(p.topologies[0]!.topology).toEqual(TOPO);
      expect(statSync(path).mode & 0o777).toBe(0o600);
    }
    const ids = parts.flatMap((p) => p.journeys.map((j) => j.id));
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => syntheticJourney(60 - ids.length + i).id));

    const timed = join(dir, 'timed.hsrec');
    let now = 0;
    const tw = new RecordingWriter({ path: timed, source: 'x', maxSeconds: 60, now: () => now });
    for (let i = 0; i < 5; i++) {
      now += 30_000;
      tw.journeys([syntheticJourney(i)]);
    }
    tw.close('done');
    expect(tw.stats.parts).toBe(3);
  });

  it('the recorder batches journeys per tick and samples status and topology', async () => {
    const path = join(dir, 'recorder.hsrec');
    let lost = 0;
    const rec = startRecorder({ path, source: 's' }, { topology: () => ({ topology: TOPO, identities: [] }), status: () => ({ ...STATUS, counters: { ...STATUS.counters, lostEvents: ++lost } }) }, 50);
    for (let i = 0; i < 30; i++) rec.journey(syntheticJourney(i));
    await new Promise((r) => setTimeout(r, 260));
    rec.close('stopped');
    const r = await readRecordingFile(path);
    expect(r.journeys).toHaveLength(30);
    expect(r.statuses.length).toBeGreaterThanOrEqual(3);
    expect(r.topologies).toHaveLength(1);
    expect(r.end?.reason).toBe('stopped');
  });

  it('a topology or status that throws (the lab state gone as the lab goes down) is counted, not fatal', async () => {
    const path = join(dir, 'throwing.hsrec');
    const rec = startRecorder({ path, source: 's' }, { topology: () => { throw new Error('no such lab'); }, status: () => STATUS }, 30);
    rec.journey(syntheticJourney(0));
    await new Promise((r) => setTimeout(r, 150));
    rec.close('lab went down');
    expect(rec.stats().sampleFailures).toBeGreaterThan(2);
    const r = await readRecordingFile(path);
    expect(r.journeys).toHaveLength(1);
    expect(r.end?.reason).toBe('lab went down');
  });

  it('a process killed mid-write leaves a file readable up to its last complete record', async () => {
    const path = join(dir, 'killed.hsrec');
    const script = `
      import { RecordingWriter } from ${JSON.stringify(new URL('./recording-file.ts', import.meta.url).pathname)};
      import { syntheticJourney } from ${JSON.stringify(new URL('../server/__tests__/synthetic.ts', import.meta.url).pathname)};
      const w = new RecordingWriter({ path: ${JSON.stringify(path)}, source: 'killed' });
      let i = 0;
      setInterval(() => { for (let k = 0; k < 20; k++) { w.journeys([syntheticJourney(i++)]); } if (i === 200) console.log('ready'); }, 1);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.on('exit', (c) => reject(new Error(`writer exited ${c}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const r = await readRecordingFile(path);
    expect(r.journeys.length).toBeGreaterThanOrEqual(200);
    expect(r.journeys).toEqual(Array.from({ length: r.journeys.length }, (_, i) => syntheticJourney(i)));
    expect(r.end).toBeUndefined();
    expect(r.problems.join(' ')).toMatch(/cut short|no end record/);
  });
});
