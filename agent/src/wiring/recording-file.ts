// Recording files: writing (gzip member per record, synchronous, 0600, rotated by size and time)
// and reading back (streamed, tolerant). The format itself is export/recording.ts.
//
// NOTE: each record is its own gzip member (RFC 1952 allows a file of several; gunzip, zcat and
// zlib read them as one stream) written with one synchronous write, so the file on disk always
// ends at a record's end or inside the one record being written when the process died: a reader
// keeps everything before it. One deflate stream flushed per record would compress better across
// records but leaves a crash's last bytes in zlib's and the write stream's buffers.
import { closeSync, createReadStream, fchmodSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync, existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { createGunzip, gzipSync } from 'node:zlib';
import { encodeRecord, RECORDING_FORMAT, RECORDING_VERSION, RecordingDecoder, type ReadRecording, type RecordingRecord } from '../export/recording.ts';
import type { Journey } from '../protocol/events.ts';
import type { AgentStatus, TopologyView } from '../protocol/messages.ts';

/** True when the bytes start like a gzip stream (a recording; JSON lines start with "{"). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** True when the file at `path` starts like a gzip stream. */
export function fileIsGzip(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && isGzip(b);
  } finally {
    closeSync(fd);
  }
}

/** Lines longer than this are cut off and counted as damaged (a tick's journeys are far less). */
const MAX_LINE = 64 << 20;

/** Read a recording from a stream of its compressed bytes, keeping everything readable. */
export async function readRecordingStream(input: Readable, onLine?: (read: ReadRecording) => void): Promise<ReadRecording> {
  const decoder = new RecordingDecoder();
  const gunzip = createGunzip();
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let failure: Error | undefined;
  let zlibError: (Error & { code?: string }) | undefined;
  const onData = (chunk: Buffer) => {
    if (failure) return;
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const part = chunk.subarray(start, nl);
      const line = pending.length ? Buffer.concat([...pending, part]).toString('utf8') : part.toString('utf8');
      pending = [];
      pendingBytes = 0;
      start = nl + 1;
      try {
        decoder.line(line);
        onLine?.(decoder.read);
      } catch (e) {
        failure = e as Error;
        input.destroy();
        return;
      }
    }
    if (start < chunk.length) {
      pendingBytes += chunk.length - start;
      if (pendingBytes > MAX_LINE) {
        failure = new Error(`a line longer than ${MAX_LINE} bytes: not a hopscope recording, or a damaged one`);
        input.destroy();
        return;
      }
      pending.push(Buffer.from(chunk.subarray(start)));
    }
  };
  gunzip.on('data', onData);
  await new Promise<void>((resolve) => {
    gunzip.on('end', resolve);
    gunzip.on('error', (e) => {
      zlibError = e;
      resolve();
    });
    input.on('error', (e) => {
      failure ??= e;
      resolve();
    });
    input.on('close', () => {
      if (failure) resolve();
    });
    input.pipe(gunzip);
  });
  gunzip.destroy();
  if (failure) throw failure;
  const rest = Buffer.concat(pending).toString('utf8');
  if (zlibError && zlibError.code !== 'Z_BUF_ERROR') {
    if (!decoder.read.header) throw new Error(`not a readable recording: ${zlibError.message}`);
    decoder.read.problems.push(`the compressed data is damaged (${zlibError.message}): kept what comes before the damage`);
  }
  return decoder.finish(rest, zlibError?.code === 'Z_BUF_ERROR');
}

/** Read a recording file (see readRecordingStream). */
export async function readRecordingFile(path: string): Promise<ReadRecording> {
  return readRecordingStream(createReadStream(path));
}

/** A recording being read: `read` grows as records are decoded. */
export interface LoadingRecording {
  read: ReadRecording;
  /** Resolves once the header and the record after it (the topology, if known) were read. */
  started: Promise<ReadRecording>;
  /** Resolves when all of it was read; rejects with what stopped the reading. */
  done: Promise<ReadRecording>;
}

/**
 * Start reading a recording file, so that it can be served from its first records while the
 * rest is read (a 100k-journey recording takes seconds to decode). A file that is not a
 * recording rejects `started`.
 */
export function loadRecordingFile(path: string): LoadingRecording {
  let read: ReadRecording | undefined;
  let startedOk!: (r: ReadRecording) => void;
  const started = new Promise<ReadRecording>((resolve) => (startedOk = resolve));
  const done = readRecordingStream(createReadStream(path), (r) => {
    read = r;
    // A writer puts the topology right after the header when it knows one; else anything will do.
    if (r.header && (r.topologies.length > 0 || r.journeys.length > 0 || r.statuses.length > 0)) startedOk(r);
  });
  void done.then(startedOk, () => undefined);
  const out: LoadingRecording = {
    get read(): ReadRecording {
      if (!read) throw new Error('nothing read yet');
      return read;
    },
    // `done` rejecting before the start rejects the start too; after it, the start stands.
    started: Promise.race([started, done]).then(() => started),
    done,
  };
  return out;
}

/** Read a recording held in memory. */
export async function readRecordingBytes(bytes: Uint8Array): Promise<ReadRecording> {
  return readRecordingStream(Readable.from([Buffer.from(bytes)]));
}

/** Where and how long a recording goes. */
export interface RecordingWriterOptions {
  path: string;
  /** What is recorded, for the header and the replay's status bar ("lab rc1 (flannel-vxlan)"). */
  source: string;
  /** Start a new part past this many bytes on disk (default 256 MiB). */
  maxBytes?: number;
  /** Start a new part after this long (default: no time bound). */
  maxSeconds?: number;
  /** Rotated parts kept besides the current one: FILE.1 (newest) … FILE.<keep> (default 3). */
  keep?: number;
  /** Wall clock ms (tests pass their own). */
  now?: () => number;
}

/** Kernel monotonic ns → wall ns offset, from this process's clocks (bpftrace's nsecs is CLOCK_MONOTONIC, as is hrtime). */
export function wallOffsetNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
}

/** Counters a writer keeps. */
export interface RecordingWriterStats {
  journeys: number;
  records: number;
  bytes: number;
  parts: number;
}

/** Writes a recording; every call writes (and compresses) one record synchronously. */
export class RecordingWriter {
  private fd = -1;
  private partBytes = 0;
  private partStartMs = 0;
  private topology: TopologyView | null = null;
  /** The topology last written, as text: sampled every second, written only when it changed. */
  private topologyText = '';
  private identities: Extract<RecordingRecord, { type: 'topology' }>['identities'] = [];
  private closed = false;
  readonly stats: RecordingWriterStats = { journeys: 0, records: 0, bytes: 0, parts: 0 };
  private readonly now: () => number;
  private readonly offset = wallOffsetNs().toString();

  constructor(private readonly opts: RecordingWriterOptions) {
    this.now = opts.now ?? Date.now;
    this.openPart();
  }

  private openPart(): void {
    // 'w' with mode 0600: a new file is private from its first byte; an old one is made private.
    this.fd = openSync(this.opts.path, 'w', 0o600);
    fchmodSync(this.fd, 0o600);
    this.partBytes = 0;
    this.partStartMs = this.now();
    this.stats.parts++;
    this.write({
      type: 'header',
      format: RECORDING_FORMAT,
      version: RECORDING_VERSION,
      startedMs: this.partStartMs,
      wallOffsetNs: this.offset,
      source: this.opts.source,
      host: hostname(),
      part: this.stats.parts,
      writer: 'hopscope',
    });
    if (this.topology) this.write({ type: 'topology', tMs: this.now(), topology: this.topology, identities: this.identities });
  }

  private rotate(): void {
    closeSync(this.fd);
    const keep = this.opts.keep ?? 3;
    const p = this.opts.path;
    if (keep <= 0) rmSync(p, { force: true });
    else {
      for (let i = keep - 1; i >= 1; i--) if (existsSync(`${p}.${i}`)) renameSync(`${p}.${i}`, `${p}.${i + 1}`);
      renameSync(p, `${p}.1`);
    }
    this.openPart();
  }

  private write(r: RecordingRecord): void {
    const bytes = gzipSync(encodeRecord(r));
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off);
    this.partBytes += bytes.length;
    this.stats.bytes += bytes.length;
    this.stats.records++;
  }

  private maybeRotate(): void {
    const full = this.partBytes >= (this.opts.maxBytes ?? 256 << 20);
    const old = this.opts.maxSeconds !== undefined && this.now() - this.partStartMs >= this.opts.maxSeconds * 1000;
    if (full || old) this.rotate();
  }

  /** The topology the journeys are named with; written now and at the start of every part. */
  setTopology(t: TopologyView, identities: Extract<RecordingRecord, { type: 'topology' }>['identities']): void {
    if (this.closed) return;
    const text = JSON.stringify(t);
    const same = text === this.topologyText;
    this.topology = t;
    this.topologyText = text;
    this.identities = identities;
    if (!same) this.write({ type: 'topology', tMs: this.now(), topology: t, identities });
  }

  journeys(js: Journey[]): void {
    if (this.closed || js.length === 0) return;
    this.maybeRotate();
    this.write({ type: 'journeys', tMs: this.now(), journeys: js });
    this.stats.journeys += js.length;
  }

  status(s: AgentStatus): void {
    if (this.closed) return;
    this.maybeRotate();
    this.write({ type: 'status', tMs: this.now(), status: s });
  }

  /** Says why it ended and closes; later calls do nothing. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.write({ type: 'end', tMs: this.now(), reason });
    } finally {
      closeSync(this.fd);
    }
  }

  /** The current part's size on disk. */
  size(): number {
    return this.closed ? this.partBytes : fstatSync(this.fd).size;
  }
}

/**
 * Journeys batched per tick (one record, one write per tick instead of per journey), bounded:
 * past `max` waiting the oldest are dropped and counted.
 */
export class JourneyBatcher {
  private buf: Journey[] = [];
  dropped = 0;
  private timer: NodeJS.Timeout;
  constructor(private readonly writer: RecordingWriter, everyMs = 100, private readonly max = 10_000) {
    this.timer = setInterval(() => this.flush(), everyMs);
    this.timer.unref();
  }
  push(j: Journey): void {
    if (this.buf.length >= this.max) {
      this.buf.shift();
      this.dropped++;
    }
    this.buf.push(j);
  }
  flush(): void {
    if (this.buf.length === 0) return;
    const b = this.buf;
    this.buf = [];
    try {
      this.writer.journeys(b);
    } catch {
      // A write that failed (disk full, file removed) loses this tick's journeys, counted.
      this.dropped += b.length;
    }
  }
  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }
}

/** What a recorder samples once a second besides the journeys it is given. */
export interface RecorderInputs {
  /** The topology and identities journeys are named with now (null: not known yet). */
  topology(): { topology: TopologyView; identities: Extract<RecordingRecord, { type: 'topology' }>['identities'] } | null;
  /** null: nothing to say yet (the server is still starting). */
  status(): AgentStatus | null;
}

/** A running recording: journeys in, status and topology sampled every `everyMs`. */
export interface Recorder {
  journey(j: Journey): void;
  stats(): RecordingWriterStats & { dropped: number; sampleFailures: number };
  close(reason: string): void;
}

/** Start recording to a file; the caller feeds journeys and closes it. */
export function startRecorder(opts: RecordingWriterOptions, inputs: RecorderInputs, everyMs = 1000): Recorder {
  const writer = new RecordingWriter(opts);
  const batcher = new JourneyBatcher(writer);
  let sampleFailures = 0;
  // NOTE: runs on a timer: a throw here (the lab's state file gone as the lab goes down, a full
  // disk) would take the process down. The recording keeps what it has; failures are counted.
  const sample = () => {
    try {
      const t = inputs.topology();
      if (t) writer.setTopology(t.topology, t.identities);
      const st = inputs.status();
      if (st) writer.status(st);
    } catch {
      sampleFailures++;
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  timer.unref();
  let closed = false;
  return {
    journey: (j) => batcher.push(j),
    stats: () => ({ ...writer.stats, dropped: batcher.dropped, sampleFailures }),
    close(reason) {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      batcher.stop();
      sample();
      try {
        writer.close(reason);
      } catch {
        // The file keeps what was written before (no end record says it was not closed cleanly).
      }
    },
  };
}
