// Synthetic journeys shaped like design.md's measured sample (client on node-1 → ClusterIP
// 10.96.0.20:80 → web pod on node-2 over flannel VXLAN). For exercising the websocket fan-out in tests and
// the websocket benchmark only: never served by `hopscope start` or `serve`.
import type { Hop, IpPacket, Journey } from '../../protocol/events.ts';
import type { JourneySource, SourceSink, SourceStatus } from '../source.ts';

const CLIENT = { ip: '10.244.1.2', pod: { namespace: 'default', name: 'client', node: 'node-1' } };
const BACKEND = { ip: '10.244.2.3', pod: { namespace: 'default', name: 'web-5d4b8c7f9x-abcde', node: 'node-2' } };
const SVC = { ip: '10.96.0.20', service: { namespace: 'default', name: 'web', port: 80, portName: 'http' } };

function tcp(src: string, dst: string, sport: number, dport: number, ipId: number): IpPacket {
  return { family: 4, src, dst, ipId, ttl: 64, len: 60, l4: { proto: 'tcp', sport, dport, flags: 'S', seq: 1000, ack: 0 } };
}

/** A ClusterIP call journey numbered `i` (ports and ids vary with i). Optionally dropped. */
export function syntheticJourney(i: number, opts: { dropped?: boolean; startNs?: number } = {}): Journey {
  const sport = 30000 + (i % 30000);
  const t0 = opts.startNs ?? 1_000_000_000 + i * 1000;
  const pre = tcp(CLIENT.ip, SVC.ip, sport, 80, i & 0xffff);
  const post = tcp(CLIENT.ip, BACKEND.ip, sport, 8080, i & 0xffff);
  const outer: IpPacket = { family: 4, src: '10.0.0.1', dst: '10.0.0.2', ipId: 0, ttl: 64, len: 110, l4: { proto: 'udp', sport: 40000, dport: 8472 } };
  let t = t0;
  const hop = (h: Omit<Hop, 'tsNs' | 'deltaNs' | 'ifindex' | 'netns'> & { netns: number }, delta: number): Hop => {
    t += delta;
    return { ...h, tsNs: t, deltaNs: delta, ifindex: 2 };
  };
  const n1 = { node: 'node-1', label: 'node-1' };
  const n2 = { node: 'node-2', label: 'node-2' };
  const hops: Hop[] = [
    hop({ kind: 'pod-egress', hook: 'xmit', netns: 101, where: { pod: CLIENT.pod, label: 'client (default)' }, dev: 'eth0', packet: pre }, 0),
    hop({ kind: 'host-veth', hook: 'recv', netns: 11, where: n1, dev: 'veth1a2b3c4d', packet: pre }, 4000),
    hop(
      {
        kind: 'dnat',
        hook: 'recv',
        netns: 11,
        where: n1,
        dev: 'cni0',
        packet: post,
        nat: { before: { ...SVC, port: 80 }, after: { ...BACKEND, port: 8080 }, rule: 'KUBE-SVC-WEB → KUBE-SEP-WEB2' },
      },
      6000,
    ),
  ];
  if (opts.dropped) {
    hops.push(hop({ kind: 'drop', hook: 'drop', netns: 11, where: n1, dev: 'cni0', packet: post, drop: { reason: 'NETFILTER_DROP', location: 'nf_hook_slow' } }, 3000));
  } else {
    hops.push(
      hop({ kind: 'encap', hook: 'xmit', netns: 11, where: n1, dev: 'flannel.1', packet: post }, 5000),
      hop({ kind: 'underlay', hook: 'xmit', netns: 11, where: n1, dev: 'u1', packet: outer, encap: { kind: 'vxlan', vni: 1, inner: post } }, 7000),
      hop({ kind: 'underlay', hook: 'recv', netns: 12, where: n2, dev: 'u2', packet: outer, encap: { kind: 'vxlan', vni: 1, inner: post } }, 9000),
      hop({ kind: 'decap', hook: 'recv', netns: 12, where: n2, dev: 'flannel.1', packet: post }, 5000),
      hop({ kind: 'bridge', hook: 'xmit', netns: 12, where: n2, dev: 'cni0', packet: post }, 4000),
      hop({ kind: 'deliver', hook: 'recv', netns: 202, where: { pod: BACKEND.pod, label: 'web (default)' }, dev: 'eth0', packet: post }, 6000),
    );
  }
  return {
    type: 'journey',
    id: `syn-${i}`,
    fingerprint: `fp-${i}`,
    verdict: opts.dropped ? 'dropped' : 'delivered',
    startNs: t0,
    endNs: t,
    proto: 'tcp',
    src: { ip: CLIENT.ip, port: sport, pod: CLIENT.pod },
    dst: { ...SVC, port: 80 },
    backend: { ...BACKEND, port: 8080 },
    hops,
  };
}

/**
 * A source emitting synthetic journeys at a fixed, bounded rate (tests and benchmarks). The rate
 * is kept by the clock: a timer tick that comes late emits what was due since the last one (a
 * fixed count per tick under-delivers on a loaded machine), at most 100 ticks' worth at once.
 */
export class SyntheticSource implements JourneySource {
  private timer: NodeJS.Timeout | undefined;
  private n = 0;
  private pool: Journey[] = [];
  private perSecond: number;
  private t0 = 0;
  private n0 = 0;
  filters: unknown[] = [];
  constructor(
    perTick: number,
    private readonly tickMs = 10,
    private readonly limit = Number.POSITIVE_INFINITY,
    /** Journey number n (default: the ClusterIP call above, from a pool of 1024). */
    private readonly make?: (n: number) => Journey,
  ) {
    this.perSecond = (perTick * 1000) / tickMs;
  }
  /** Changes the rate from now on. */
  setRate(perSecond: number): void {
    this.perSecond = perSecond;
    this.t0 = performance.now();
    this.n0 = this.n;
  }
  async start(sink: SourceSink): Promise<void> {
    this.t0 = performance.now();
    this.n0 = this.n;
    this.timer = setInterval(() => {
      const due = this.n0 + Math.floor(((performance.now() - this.t0) * this.perSecond) / 1000);
      const cap = this.n + Math.ceil((this.perSecond * this.tickMs * 100) / 1000);
      for (const end = Math.min(due, cap, this.limit); this.n < end; ) {
        // A pool keeps the generator cheap next to what it measures; ids stay unique.
        const n = this.n++;
        if (this.make) {
          sink.onJourney(this.make(n));
          continue;
        }
        const base = (this.pool[n % 1024] ??= syntheticJourney(n % 1024));
        sink.onJourney({ ...base, id: `syn-${n}` });
      }
      sink.onStatus(this.status());
    }, this.tickMs);
  }
  setFilter(u: unknown): void {
    this.filters.push(u);
  }
  get emitted(): number {
    return this.n;
  }
  status(): SourceStatus {
    return {
      tracer: 'running',
      probeSet: null,
      bpftraceVersion: null,
      sampling: { enabled: false, description: 'synthetic', suppressed: 0 },
      counters: { eventsIn: this.n, lostEvents: 0, bpftraceRestarts: 0, dropped: {} },
    };
  }
  capabilities(): Record<string, unknown> {
    return { synthetic: true };
  }
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }
}
