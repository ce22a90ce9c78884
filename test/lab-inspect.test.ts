// A lesson's inspections run on a real lab: the pipeline's first command in the node's namespace
// and grep over its output, kubectl against the lab's API. What decides ok/failed is the first
// command: grep finding nothing is an answer, a first command that failed is not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import { inspectCommand } from '../agent/src/protocol/inspect.ts';
import { runInspection } from '../agent/src/server/lab-session.ts';

const NAME = `ri${process.pid % 10000}`;
const MODE = { cni: 'flannel-vxlan', kubeProxy: 'iptables' } as const;
let lab: LabHandle;

beforeAll(async () => {
  lab = await labUp(loadTopology(), { name: NAME, ...MODE });
});
afterAll(async () => {
  await lab?.down();
});

describe('runInspection on a lab', () => {
  it('pipes the node\'s rules through grep and answers with the transcript', async () => {
    const web = { namespace: 'default', name: 'web' };
    const r = await runInspection(lab, inspectCommand({ what: 'service-rules', node: 'node-1', service: web }, MODE));
    expect(r.ok).toBe(true);
    const [head, ...lines] = r.output.trimEnd().split('\n');
    expect(head).toBe('node-1 $ iptables-save -t nat | grep -F -- default/web:');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toContain('default/web:');
  });

  it('grep finding nothing is an answer', async () => {
    const r = await runInspection(lab, inspectCommand({ what: 'service-rules', node: 'node-1', service: { namespace: 'default', name: 'nosuch' } }, MODE));
    expect(r).toEqual({ ok: true, output: 'node-1 $ iptables-save -t nat | grep -F -- default/nosuch:\n' });
  });

  it('a failed first command fails the inspection though grep follows it', async () => {
    // nft rules asked of an iptables lab: there is no table ip kube-proxy.
    const r = await runInspection(lab, inspectCommand({ what: 'service-rules', node: 'node-1', service: { namespace: 'default', name: 'web' } }, { ...MODE, kubeProxy: 'nftables' }));
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.error).toMatch(/^exit [1-9]/);
    expect(r.output).toMatch(/^node-1 \$ nft list table ip kube-proxy \| grep .*\n.*No such file or directory/s);
  });

  it('a stage that runs out of time fails the inspection and names the stage; one that prints too much is cut and says so', async () => {
    const node = { kind: 'node', node: 'node-1' } as const;
    const lim = { timeoutMs: 500, maxBytes: 4096 };
    const slowFirst = await runInspection(lab, { place: node, pipeline: [['sleep', '5']], line: 'sleep 5' }, lim);
    expect(slowFirst).toMatchObject({ ok: false, error: 'sleep timed out after 0.5 s' });
    const slowStage = await runInspection(lab, { place: node, pipeline: [['echo', 'x'], ['sleep', '5']], line: 'echo x | sleep 5' }, lim);
    expect(slowStage).toMatchObject({ ok: false, error: 'sleep timed out after 0.5 s' });
    // Bytes, not characters: 3000 two-byte characters are over 4096 bytes.
    const big = await runInspection(lab, { place: node, pipeline: [['printf', '%3000s', ''], ['sed', 's/ /é/g']], line: 'big' }, lim);
    expect(big.ok).toBe(true);
    expect(big.output.endsWith('… (output cut at 4096 bytes)\n')).toBe(true);
    const bigFirst = await runInspection(lab, { place: node, pipeline: [['head', '-c', '100000', '/dev/zero']], line: 'head' }, lim);
    expect(bigFirst.ok).toBe(true);
    expect(bigFirst.output).toContain('… (output cut at 4096 bytes)');
  }, 30_000);

  it('runs kubectl against the lab\'s API', async () => {
    const r = await runInspection(lab, inspectCommand({ what: 'endpoints', service: { namespace: 'default', name: 'web' } }, MODE));
    expect(r.ok).toBe(true);
    const webIps = lab.state().model.pods.filter((p) => p.labels.app === 'web').map((p) => p.ip);
    expect(webIps.length).toBeGreaterThan(0);
    for (const ip of webIps) expect(r.output).toContain(`${ip}:8080`);
  });
});
