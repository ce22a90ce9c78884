// The filter as the kernel program needs it: numbers and enums only, never user strings.
// `compileFilter` (filter.ts) produces it; `renderProgram` (program.ts) turns it into holes.

/** An IPv4 or IPv6 prefix as bytes (network order). */
export interface Cidr {
  family: 4 | 6;
  /** 4 or 16 bytes, host bits already zeroed. */
  bytes: number[];
  prefix: number;
}

/** One side of a flow: any of these prefixes, and (if non-empty) any of these ports. */
export interface FlowSide {
  cidrs: Cidr[];
  ports: number[];
}

/** Protocols the kernel filter can select. */
export type FilterProto = 'tcp' | 'udp' | 'icmp';

/** What the in-kernel filter and sampler do. */
export interface KernelFilter {
  /** Sender side; null = any. A flow matches in either direction (replies are shown too). */
  from: FlowSide | null;
  /** Receiver side; null = any. */
  to: FlowSide | null;
  /** Ports that must appear on either side (empty = any). */
  ports: number[];
  proto: FilterProto | null;
  /** Only events in these network namespaces (inode numbers; empty = all). */
  netns: number[];
  /**
   * The netns list is closed: a packet seen in one of them never reaches a netns outside it
   * (a lab's namespaces, which are never linked to anything else). Lets the kernel carry a
   * packet's "count, don't print" from device to device instead of deciding again.
   */
  netnsClosed?: boolean;
  /** Print every matching packet (for narrow filters). */
  everyPacket: boolean;
  /** Packets printed per (flow, hop) before sampling starts. */
  firstPackets: number;
  /** After the first packets, print 1 packet in K (0 = none). */
  sampleEvery: number;
  /**
   * Hop lines a second the sampler may print before it samples harder: K doubles as often as
   * the excess asks, each report, and halves back when the output is well under. Not used
   * with everyPacket or without sampling.
   */
  printBudget: number;
}

/** Defaults: every flow, its first 8 packets at each hop, then 1 in 64, within 500 lines/s. */
export const DEFAULT_KERNEL_FILTER: KernelFilter = {
  from: null,
  to: null,
  ports: [],
  proto: null,
  netns: [],
  everyPacket: false,
  firstPackets: 8,
  sampleEvery: 64,
  // ~40 journeys a second: more than anyone reads, and bpftrace and the agent spend ~20-30 us
  // of CPU per line that the traced node's workloads would otherwise have. Under iperf3 on
  // the lab (bench/overhead.ts --per-program, 2026-12-04) 2000 cost bpftrace and the agent
  // ~93 ms of CPU a second, more than the kernel programs' ~78; 500 cost ~56.
  printBudget: 500,
};
