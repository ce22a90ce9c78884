// The UI's "record" button: what this page receives (journeys, status every second, the topology
// it was shown with), written as a hopscope recording (agent/src/export/recording.ts) that
// `hopscope open` replays and `hopscope export --pcapng` converts. Kept in the stream worker.
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import type { AgentStatus, TopologyView } from '@hopscope/agent/protocol/messages.ts';
import { encodeRecord, RECORDING_FORMAT, RECORDING_VERSION, type RecordingRecord } from '@hopscope/agent/export/recording.ts';

/** Most journeys one UI recording keeps; later ones are counted, not kept. */
export const MAX_UI_RECORDING = 100_000;

/** A recording in progress in the page. */
export class UiRecording {
  private readonly records: RecordingRecord[] = [];
  journeys = 0;
  dropped = 0;
  /** Wall ns − kernel ns, estimated from the first journey's arrival (the page has no kernel clock). */
  private offsetNs: bigint | undefined;

  constructor(
    private readonly startedMs: number,
    private readonly source: string,
    topology: TopologyView | null,
  ) {
    if (topology) this.records.push({ type: 'topology', tMs: startedMs, topology, identities: [] });
  }

  batch(js: readonly Journey[], nowMs: number): void {
    const room = MAX_UI_RECORDING - this.journeys;
    const kept = js.slice(0, Math.max(0, room));
    this.dropped += js.length - kept.length;
    if (kept.length === 0) return;
    this.offsetNs ??= BigInt(nowMs) * 1_000_000n - BigInt(Math.round(kept[kept.length - 1]!.endNs));
    this.records.push({ type: 'journeys', tMs: nowMs, journeys: kept });
    this.journeys += kept.length;
  }

  status(s: AgentStatus, nowMs: number): void {
    this.records.push({ type: 'status', tMs: nowMs, status: s });
  }

  /** The recording's text (gzip it to save it). */
  finish(nowMs: number, host: string): string {
    const header: RecordingRecord = {
      type: 'header',
      format: RECORDING_FORMAT,
      version: RECORDING_VERSION,
      startedMs: this.startedMs,
      wallOffsetNs: (this.offsetNs ?? 0n).toString(),
      source: this.source,
      host,
      part: 1,
      writer: 'hopscope UI',
    };
    const end: RecordingRecord = { type: 'end', tMs: nowMs, reason: `stopped in the UI${this.dropped ? `; ${this.dropped} journeys past ${MAX_UI_RECORDING} not kept` : ''}` };
    return [header, ...this.records, end].map(encodeRecord).join('');
  }
}

/** gzip in the browser (CompressionStream): the recording's file bytes. */
export async function gzipText(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
