// The recording format (`hopscope trace --write`, `serve`/`start --write`), version 1. Pure: records
// to lines and lines back to records; the gzip stream and the files are wiring/recording-file.ts.
//
// A recording is a gzip stream of JSON lines, flushed after every record so that a file cut short
// (a crash, a full disk) still reads up to its last complete line. Each line is one record, a
// union on "type":
//   header   first line: format "hopscope-recording", version, when it started (wall ms), the clock
//            offset (wall ns − kernel monotonic ns, a decimal string: it exceeds 2^53), what was
//            traced ("lab rc1 (flannel-vxlan)", "node-1", ...), and the part number when rotated
//   topology the topology the journeys were named with (and the identities derived from it),
//            first after the header and again whenever it changed
//   journeys the journeys made in one tick, with the wall time they were written
//   status   the agent status and its loss counters, once a second
//   end      the recording was closed cleanly (absent after a crash), with why
// Readers skip records of a type they do not know (a newer writer) and refuse another format or a
// higher version. Every rotated part starts with its own header and topology, so each file opens
// on its own.
import { z } from 'zod';
import type { Journey } from '../protocol/events.ts';
import { agentStatusSchema, journeySchema, topologySchema, type AgentStatus, type TopologyView } from '../protocol/messages.ts';

/** The format's name in every header. */
export const RECORDING_FORMAT = 'hopscope-recording';
/** The version this code writes and the highest it reads. */
export const RECORDING_VERSION = 1;

const headerSchema = z.object({
  type: z.literal('header'),
  format: z.literal(RECORDING_FORMAT),
  version: z.number().int(),
  startedMs: z.number(),
  wallOffsetNs: z.string().regex(/^-?\d{1,25}$/),
  source: z.string(),
  host: z.string(),
  part: z.number().int().min(1),
  writer: z.string(),
});
const identityRow = z.object({
  ip: z.string(),
  kind: z.enum(['pod', 'service', 'node', 'external']),
  namespace: z.string().optional(),
  name: z.string(),
  node: z.string().optional(),
});
const topologyRecord = z.object({ type: z.literal('topology'), tMs: z.number(), topology: topologySchema, identities: z.array(identityRow) });
const journeysRecord = z.object({ type: z.literal('journeys'), tMs: z.number(), journeys: z.array(journeySchema) });
const statusRecord = z.object({ type: z.literal('status'), tMs: z.number(), status: agentStatusSchema });
const endRecord = z.object({ type: z.literal('end'), tMs: z.number(), reason: z.string() });

/** The first line of every recording file. */
export type RecordingHeader = z.infer<typeof headerSchema>;
/** One line of a recording. */
export type RecordingRecord =
  | RecordingHeader
  | { type: 'topology'; tMs: number; topology: TopologyView; identities: z.infer<typeof identityRow>[] }
  | { type: 'journeys'; tMs: number; journeys: Journey[] }
  | { type: 'status'; tMs: number; status: AgentStatus }
  | { type: 'end'; tMs: number; reason: string };

/** A record as one line (with its newline). */
export function encodeRecord(r: RecordingRecord): string {
  return JSON.stringify(r) + '\n';
}

/** A recording read back: what was readable, and what was not, in words. */
export interface ReadRecording {
  header?: RecordingHeader;
  topologies: Extract<RecordingRecord, { type: 'topology' }>[];
  /** Journeys in file order, each with the wall time it was written. */
  journeys: Journey[];
  journeyTimesMs: number[];
  statuses: Extract<RecordingRecord, { type: 'status' }>[];
  end?: { tMs: number; reason: string };
  /** Lines skipped (damaged, unknown) and whether the file was cut short, for the reader to say. */
  problems: string[];
}

const PROBLEMS_KEPT = 20;

/**
 * Reads a recording line by line (a 100k-journey recording is too big for one string). Total:
 * damaged lines are skipped and counted; only a missing or foreign header throws, as nothing
 * else can be trusted then.
 */
export class RecordingDecoder {
  readonly read: ReadRecording = { topologies: [], journeys: [], journeyTimesMs: [], statuses: [], problems: [] };
  private n = 0;
  private skipped = 0;

  private skip(why: string): void {
    this.skipped++;
    if (this.read.problems.length < PROBLEMS_KEPT) this.read.problems.push(`line ${this.n}: ${why}`);
  }

  /** One complete line, without its newline. */
  line(line: string): void {
    this.n++;
    if (line.length === 0) return;
    const out = this.read;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      if (this.n === 1) throw new Error('not a hopscope recording (its first line is not JSON)');
      return this.skip('not JSON');
    }
    const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
    if (this.n === 1) {
      const h = headerSchema.safeParse(raw);
      if (!h.success) {
        const format = typeof raw === 'object' && raw !== null ? (raw as { format?: unknown }).format : undefined;
        throw new Error(format === RECORDING_FORMAT ? `damaged recording header: ${h.error.issues[0]?.message ?? ''}` : 'not a hopscope recording (its first line is no hopscope-recording header)');
      }
      if (h.data.version > RECORDING_VERSION) throw new Error(`recording version ${h.data.version} is newer than this hopscope reads (${RECORDING_VERSION})`);
      out.header = h.data;
      return;
    }
    switch (type) {
      case 'topology': {
        const r = topologyRecord.safeParse(raw);
        return r.success ? void out.topologies.push(r.data as Extract<RecordingRecord, { type: 'topology' }>) : this.skip('damaged topology record');
      }
      case 'journeys': {
        const r = journeysRecord.safeParse(raw);
        if (!r.success) return this.skip('damaged journeys record');
        for (const j of r.data.journeys) {
          out.journeys.push(j as Journey);
          out.journeyTimesMs.push(r.data.tMs);
        }
        return;
      }
      case 'status': {
        const r = statusRecord.safeParse(raw);
        return r.success ? void out.statuses.push(r.data) : this.skip('damaged status record');
      }
      case 'end': {
        const r = endRecord.safeParse(raw);
        return r.success ? void (out.end = { tMs: r.data.tMs, reason: r.data.reason }) : this.skip('damaged end record');
      }
      case 'header':
        return this.skip('a second header');
      default:
        return this.skip(`unknown record type ${JSON.stringify(type)?.slice(0, 30) ?? 'none'}`);
    }
  }

  /**
   * The end of the input: `rest` is what followed the last newline (a line cut short), `truncated`
   * whether the compressed stream ended early.
   */
  finish(rest: string, truncated: boolean): ReadRecording {
    if (rest !== '') this.read.problems.push(`the last line is incomplete (${rest.length} bytes): the recording was cut short`);
    else if (truncated) this.read.problems.push('the compressed stream ends early: the recording was cut short');
    else if (!this.read.end && this.read.header) this.read.problems.push('no end record: the recording is still being written, or its writer stopped without closing it');
    if (!this.read.header) throw new Error('empty recording: not even its header was written');
    if (this.skipped > PROBLEMS_KEPT) this.read.problems.push(`and ${this.skipped - PROBLEMS_KEPT} more damaged lines`);
    return this.read;
  }
}

/** The records of a recording's whole text (already decompressed). */
export function decodeRecording(text: string, opts: { truncated?: boolean } = {}): ReadRecording {
  const d = new RecordingDecoder();
  const lines = text.split('\n');
  const rest = lines.pop() ?? '';
  for (const l of lines) d.line(l);
  return d.finish(rest, opts.truncated ?? false);
}
