// hopscope export --pcapng on real lab journeys (flannel VXLAN + kube-proxy iptables), read back
// by the real tshark and tcpdump. Each scenario exports its journeys as `trace --json` lines
// through the CLI and checks every packet tshark decodes against the hop it came from: the
// interface, the addresses (outer and inner), ports, TCP flags, sequence and acknowledgement
// numbers, the VNI, the comment, the lengths and the kernel timestamp.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import type { Hop, IpPacket, Journey } from '../agent/src/protocol/events.ts';
import { hopText } from '../agent/src/journeys/story.ts';
import { readRecordingFile } from '../agent/src/wiring/recording-file.ts';
import { curl, curlUntilNode, kinds, replyOf, sent, synOf, traceLabForFile, waitFor, curlUntilExited } from './trace-helpers.ts';

const NAME = `rc${process.pid % 10000}`;
const t = traceLabForFile(NAME, { cni: 'flannel-vxlan', kubeProxy: 'iptables' });
const dir = mkdtempSync(join(tmpdir(), 'hopscope-pcapng-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIELDS = [
  'frame.interface_name',
  'frame.comment',
  'frame.time_epoch',
  'frame.len',
  'frame.cap_len',
  'ip.src',
  'ip.dst',
  'ip.len',
  'ip.id',
  'ip.ttl',
  'udp.srcport',
  'udp.dstport',
  'vxlan.vni',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.flags',
  'tcp.seq_raw',
  'tcp.ack_raw',
] as const;
type Row = Record<(typeof FIELDS)[number], string>;

/** Export through the CLI (as a user runs it); returns the pcapng path. */
async function exportJourneys(name: string, journeys: Journey[]): Promise<string> {
  const input = join(dir, `${name}.jsonl`);
  const out = join(dir, `${name}.pcapng`);
  writeFileSync(input, journeys.map((j) => JSON.stringify(j)).join('\n') + '\n');
  const r = await execa(process.execPath, ['agent/bin/hopscope.mjs', 'export', '--pcapng', '-o', out, input], { reject: false, timeout: 120_000 });
  expect(r.stderr).toContain(`${journeys.length} journeys`);
  expect(r.exitCode).toBe(0);
  expect(statSync(out).mode & 0o777).toBe(0o600);
  return out;
}

/** Every packet of a pcapng file, by the real tshark (VXLAN on flannel's 8472 decoded as users do). */
async function tshark(file: string): Promise<Row[]> {
  const r = await execa('tshark', ['-r', file, '-d', 'udp.port==8472,vxlan', '-T', 'fields', '-E', 'occurrence=a', '-E', 'separator=\t', '-E', 'aggregator=,', ...FIELDS.flatMap((f) => ['-e', f])], { timeout: 60_000 });
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const cols = l.split('\t');
      return Object.fromEntries(FIELDS.map((f, i) => [f, cols[i] ?? ''])) as Row;
    });
}

/** The packets of a hop as tshark shows them, outermost first. */
function layers(h: Hop): IpPacket[] {
  return h.encap ? [h.packet, h.encap.inner] : [h.packet];
}

const TCP_BITS: Record<string, number> = { F: 1, S: 2, R: 4, P: 8, '.': 16, U: 32, E: 64, W: 128 };
const flagBits = (f: string) => [...f].reduce((a, c) => a | (TCP_BITS[c] ?? 0), 0);
const epoch = (ns: number) => {
  const b = BigInt(ns);
  return `${b / 1_000_000_000n}.${(b % 1_000_000_000n).toString().padStart(9, '0')}`;
};

/** Hops of the journeys in the order the export writes them (kernel time, then journey order). */
function hopsInOrder(journeys: Journey[]): { j: Journey; h: Hop; i: number }[] {
  const all = journeys.flatMap((j) => j.hops.map((h, i) => ({ j, h, i })));
  return all.map((x, order) => ({ ...x, order })).sort((a, b) => a.h.tsNs - b.h.tsNs || a.order - b.order);
}

/** Field by field: tshark's reading of each packet against the hop it was made from. */
function expectMatches(rows: Row[], journeys: Journey[]): void {
  const hops = hopsInOrder(journeys);
  expect(rows).toHaveLength(hops.length);
  hops.forEach(({ j, h, i }, n) => {
    const row = rows[n]!;
    const at = `${j.id} hop ${i + 1} (${h.kind} ${h.dev})`;
    const owner = h.where.pod ? (h.where.pod.namespace === 'default' ? h.where.pod.name : `${h.where.pod.namespace}/${h.where.pod.name}`) : (h.where.node ?? h.where.label);
    expect(row['frame.interface_name'].startsWith(`${owner}/${h.dev}`), at).toBe(true);
    expect(row['frame.comment'], at).toBe(`journey ${j.id} hop ${i + 1}/${j.hops.length} ${h.kind}: ${hopText(h)}`);
    expect(row['frame.time_epoch'], at).toBe(epoch(h.tsNs));
    expect(Number(row['frame.len']), at).toBe(h.packet.len + 14);
    expect(Number(row['frame.cap_len']), at).toBeLessThanOrEqual(Number(row['frame.len']));
    const ls = layers(h);
    expect(row['ip.src'], at).toBe(ls.map((p) => p.src).join(','));
    expect(row['ip.dst'], at).toBe(ls.map((p) => p.dst).join(','));
    expect(row['ip.len'], at).toBe(ls.map((p) => p.len).join(','));
    expect(row['ip.id'], at).toBe(ls.map((p) => `0x${p.ipId.toString(16).padStart(4, '0')}`).join(','));
    expect(row['ip.ttl'], at).toBe(ls.map((p) => p.ttl).join(','));
    const udp = ls.map((p) => p.l4).filter((l) => l.proto === 'udp');
    expect(row['udp.srcport'], at).toBe(udp.map((l) => l.sport).join(','));
    expect(row['udp.dstport'], at).toBe(udp.map((l) => l.dport).join(','));
    expect(row['vxlan.vni'], at).toBe(h.encap?.kind === 'vxlan' ? String(h.encap.vni) : '');
    const tcp = ls.map((p) => p.l4).flatMap((l) => (l.proto === 'tcp' ? [l] : []));
    expect(row['tcp.srcport'], at).toBe(tcp.map((l) => l.sport).join(','));
    expect(row['tcp.dstport'], at).toBe(tcp.map((l) => l.dport).join(','));
    expect(row['tcp.flags'], at).toBe(tcp.map((l) => `0x${flagBits(l.flags).toString(16).padStart(4, '0')}`).join(','));
    expect(row['tcp.seq_raw'], at).toBe(tcp.map((l) => l.seq).join(','));
    expect(row['tcp.ack_raw'], at).toBe(tcp.map((l) => l.ack).join(','));
  });
}

/** The interfaces of the file as tshark lists them (capinfos-style, from the IDBs). */
async function interfaceNames(file: string): Promise<string[]> {
  const r = await execa('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.interface_name'], { timeout: 60_000 });
  return [...new Set(r.stdout.split('\n').filter(Boolean))];
}

/** tcpdump reads the file too: one line per packet (a tunnelled one continues on the next lines). */
async function tcpdumpLines(file: string): Promise<string[]> {
  const r = await execa('tcpdump', ['-nr', file], { timeout: 60_000 });
  const lines = r.stdout.split('\n').filter(Boolean);
  return lines.filter((l) => /^\d\d:\d\d:\d\d\.\d{6} /.test(l));
}

describe('export --pcapng of real lab journeys, read by tshark and tcpdump', () => {
  it('same-node pod → pod: four interfaces, TCP headers as traced', async () => {
    const web1 = t.pod('default', 'web', 'node-1');
    const client = t.pod('default', 'client');
    const a = await curl(t.lab, 'default/client', `http://${web1.ip}:8080/`);
    const syn = await waitFor('same-node SYN', () => synOf(t.journeys, client.ip, a.peerPort));
    const reply = await waitFor('its SYN-ACK', () => replyOf(t.journeys, syn));
    expect(kinds(syn)).toEqual(['pod-egress', 'host-veth', 'host-veth', 'deliver']);
    const file = await exportJourneys('same-node', [syn, reply]);
    const rows = await tshark(file);
    expectMatches(rows, [syn, reply]);
    expect(await interfaceNames(file)).toEqual(expect.arrayContaining(['client/eth0', `node-1/${client.hostVeth}`, `node-1/${web1.hostVeth}`, `${web1.name}/eth0`]));
    expect(rows[0]!['tcp.flags']).toBe('0x0002');
    expect(rows.find((r) => r['tcp.flags'] === '0x0012')!['tcp.ack_raw']).toBe(String((sent(syn).l4 as { seq: number }).seq + 1));
    const dump = await tcpdumpLines(file);
    expect(dump).toHaveLength(8);
    expect(dump[0]).toContain(`${client.ip}.${a.peerPort} > ${web1.ip}.8080: Flags [S]`);
  });

  it('cross-node ClusterIP call: VXLAN VNI 1 with outer node addresses, DNAT and reverse NAT where each was seen', async () => {
    const client = t.pod('default', 'client');
    const web2 = t.pod('default', 'web', 'node-2');
    const a = await curlUntilNode(t.lab, 'default/client', 'http://10.96.0.20/', 'node-2');
    expect(a.pod).toBe(web2.name);
    const syn = await waitFor('ClusterIP SYN', () => synOf(t.journeys, client.ip, a.peerPort));
    const reply = await waitFor('its SYN-ACK', () => replyOf(t.journeys, syn));
    expect(kinds(syn)).toContain('dnat');
    expect(kinds(reply)).toContain('reverse-nat');
    const file = await exportJourneys('clusterip', [syn, reply]);
    const rows = await tshark(file);
    expectMatches(rows, [syn, reply]);
    const synRows = rows.filter((r) => r['frame.comment'].startsWith(`journey ${syn.id} `));
    // Before DNAT the client's eth0 shows the ClusterIP; from cni0 on, the backend.
    expect(synRows[0]).toMatchObject({ 'frame.interface_name': 'client/eth0', 'ip.dst': '10.96.0.20', 'tcp.dstport': '80' });
    const dnat = synRows.find((r) => r['frame.comment'].includes(' dnat: '))!;
    expect(dnat).toMatchObject({ 'frame.interface_name': 'node-1/cni0', 'ip.dst': web2.ip, 'tcp.dstport': '8080' });
    expect(dnat['frame.comment']).toContain(`svc default/web 10.96.0.20:80 → pod default/${web2.name} ${web2.ip}:8080`);
    const vxlan = synRows.filter((r) => r['vxlan.vni'] !== '');
    expect(vxlan.length).toBe(4);
    for (const r of vxlan) expect(r).toMatchObject({ 'vxlan.vni': '1', 'ip.src': `10.0.0.1,${client.ip}`, 'ip.dst': `10.0.0.2,${web2.ip}`, 'udp.dstport': '8472' });
    expect(vxlan.map((r) => r['frame.interface_name'])).toContain('node-1/eth0');
    const replyRows = rows.filter((r) => r['frame.comment'].startsWith(`journey ${reply.id} `));
    const rnat = replyRows.find((r) => r['frame.comment'].includes(' reverse-nat: '))!;
    expect(rnat).toMatchObject({ 'frame.interface_name': 'node-1/cni0', 'ip.src': '10.96.0.20', 'tcp.srcport': '80' });
    expect(replyRows.at(-1)).toMatchObject({ 'frame.interface_name': 'client/eth0', 'ip.src': '10.96.0.20', 'ip.dst': client.ip, 'tcp.flags': '0x0012' });
    const dump = await tcpdumpLines(file);
    expect(dump.length).toBe(rows.length);
    expect(dump.some((l) => l.includes('10.0.0.1.') && l.includes('> 10.0.0.2.8472: OTV'))).toBe(true);
  });

  it('NodePort from the external host: DNAT and masquerade on node-1 with the masqueraded source', async () => {
    const web2 = t.pod('default', 'web', 'node-2');
    const a = await curlUntilNode(t.lab, { external: 'ext-client' }, 'http://10.0.0.1:30080/', 'node-2');
    expect(a.pod).toBe(web2.name);
    const syn = await waitFor('NodePort SYN', () =>
      t.journeys.find((j) => sent(j).src === '10.0.0.100' && j.hops.some((h) => h.kind === 'snat' && h.nat?.after.ip === a.peer && h.nat.after.port === a.peerPort)),
    );
    const reply = await waitFor('NodePort reply', () => replyOf(t.journeys, syn));
    const file = await exportJourneys('nodeport', [syn, reply]);
    const rows = await tshark(file);
    expectMatches(rows, [syn, reply]);
    const synRows = rows.filter((r) => r['frame.comment'].startsWith(`journey ${syn.id} `));
    expect(synRows[0]).toMatchObject({ 'frame.interface_name': 'ext-client/eth0', 'ip.src': '10.0.0.100', 'ip.dst': '10.0.0.1', 'tcp.dstport': '30080' });
    const snat = synRows.find((r) => r['frame.comment'].includes(' snat: '))!;
    expect(snat['frame.interface_name'].startsWith('node-1/')).toBe(true);
    expect(snat).toMatchObject({ 'ip.src': a.peer, 'tcp.srcport': String(a.peerPort), 'ip.dst': web2.ip, 'tcp.dstport': '8080' });
    const vxlan = synRows.filter((r) => r['vxlan.vni'] === '1');
    expect(vxlan.length).toBeGreaterThan(0);
    for (const r of vxlan) expect(r['ip.src']).toBe(`10.0.0.1,${a.peer}`);
    expect(await tcpdumpLines(file)).toHaveLength(rows.length);
  });

  it('a drop: the last packet is on the device where the kernel freed it, its reason in the comment', async () => {
    const web2 = t.pod('default', 'web', 'node-2');
    const client = t.pod('default', 'client');
    const rule = ['FORWARD', '-s', client.ip, '-d', web2.ip, '-p', 'tcp', '--dport', '8080', '-j', 'DROP'];
    expect((await t.lab.exec({ node: 'node-1' }, ['iptables', '-I', ...rule])).exitCode).toBe(0);
    try {
      const before = t.journeys.length;
      await t.lab.exec('default/client', ['curl', '-s', '-m', '1', `http://${web2.ip}:8080/`], { timeoutMs: 10_000 });
      const dropped = await waitFor('the dropped SYN', () => t.journeys.slice(before).find((j) => j.verdict === 'dropped' && sent(j).src === client.ip && sent(j).dst === web2.ip));
      const file = await exportJourneys('drop', [dropped]);
      const rows = await tshark(file);
      expectMatches(rows, [dropped]);
      const last = rows.at(-1)!;
      expect(last['frame.comment']).toMatch(/ drop: DROPPED NETFILTER_DROP at /);
      expect(last['frame.interface_name'].startsWith('node-1/')).toBe(true);
      expect(last).toMatchObject({ 'ip.src': client.ip, 'ip.dst': web2.ip, 'tcp.flags': '0x0002' });
    } finally {
      await t.lab.exec({ node: 'node-1' }, ['iptables', '-D', ...rule]);
    }
  });

  it('a whole trace in one file: interfaces are shared across journeys, and bad lines are skipped and said', async () => {
    const all = t.journeys.slice();
    expect(all.length).toBeGreaterThan(6);
    const input = join(dir, 'all.jsonl');
    const out = join(dir, 'all.pcapng');
    writeFileSync(input, all.map((j) => JSON.stringify(j)).join('\n') + '\n{"not":"a journey"}\nnot json\n');
    const r = await execa(process.execPath, ['agent/bin/hopscope.mjs', 'export', '--pcapng', '-o', out, input], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain(`line ${all.length + 1}: not a journey`);
    expect(r.stderr).toContain(`line ${all.length + 2}: not JSON`);
    const rows = await tshark(out);
    expectMatches(rows, all);
    const names = await interfaceNames(out);
    expect(new Set(names).size).toBe(names.length);
  });

  it('trace --write records what --json prints, with the lab topology and status; its pcapng export is stamped in wall-clock time', async () => {
    const web2 = t.pod('default', 'web', 'node-2');
    const rec = join(dir, 'trace.hsrec');
    const child = execa(process.execPath, ['agent/bin/hopscope.mjs', 'trace', '--lab', NAME, '--from', 'default/client', '--to', `${web2.ip}:8080`, '--json', '--count', '4', '--write', rec], {
      reject: false,
      timeout: 90_000,
    });
    await curlUntilExited(t.lab, child, `http://${web2.ip}:8080/`);
    const r = await child;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/recorded 4 journeys in \d+ bytes \(1 file\)/);
    expect(statSync(rec).mode & 0o777).toBe(0o600);
    const printed = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Journey);
    const read = await readRecordingFile(rec);
    expect(read.problems).toEqual([]);
    expect(read.journeys).toEqual(printed);
    expect(read.header).toMatchObject({ source: `lab ${NAME} (flannel-vxlan), hopscope trace`, version: 1 });
    expect(read.end?.reason).toBe('4 journeys');
    const topo = read.topologies[0]!.topology;
    expect(topo.pods.map((p) => p.name)).toEqual(expect.arrayContaining(['client', web2.name]));
    expect(read.topologies[0]!.identities).toContainEqual({ ip: web2.ip, kind: 'pod', namespace: 'default', name: web2.name, node: 'node-2' });
    expect(read.statuses.length).toBeGreaterThan(0);
    expect(read.statuses.at(-1)!.status).toMatchObject({ lab: { name: NAME, cni: 'flannel-vxlan' }, counters: { journeysOut: expect.any(Number) as number } });

    const out = join(dir, 'trace.pcapng');
    const x = await execa(process.execPath, ['agent/bin/hopscope.mjs', 'export', '--pcapng', '-o', out, rec], { reject: false });
    expect(x.exitCode, x.stderr).toBe(0);
    const rows = await tshark(out);
    const offset = BigInt(read.header!.wallOffsetNs);
    const hops = hopsInOrder(read.journeys);
    expect(rows).toHaveLength(hops.length);
    hops.forEach(({ h }, n) => {
      const wall = BigInt(h.tsNs) + offset;
      expect(rows[n]!['frame.time_epoch']).toBe(`${wall / 1_000_000_000n}.${(wall % 1_000_000_000n).toString().padStart(9, '0')}`);
    });
    // Recorded this minute, by the wall clock.
    expect(Math.abs(Number(rows[0]!['frame.time_epoch']) * 1000 - Date.now())).toBeLessThan(120_000);
  });
});
