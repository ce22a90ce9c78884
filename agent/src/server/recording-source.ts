// A recording as a JourneySource (`hopscope open`): the journeys played back at their recorded
// pace (or faster, or all at once), the recorded status and topology following the play position.
// No tracer, no root, no lab.
import type { Journey } from '../protocol/events.ts';
import type { AgentStatus, ReplayControl, TopologyView } from '../protocol/messages.ts';
import type { ReadRecording } from '../export/recording.ts';
import type { JourneySource, SourceSink, SourceStatus } from './source.ts';

/** How to play. */
export interface PlayOptions {
  /** 1 = as recorded; 2 = twice as fast; 0 = everything at once. */
  speed: number;
  /** Seconds into the recording to start from: what came before is delivered at once. */
  startAtS?: number;
  /**
   * Playback waits until this says someone is watching (the first browser), then starts; without
   * it (until playWhen) nothing plays: the server starts before anyone can watch.
   */
  audience?: () => boolean;
  /** Most journeys handed over per tick (the fan-out's queues are bounded: this keeps under them). */
  perTick?: number;
  /** Resolves (or rejects) when the recording is read to its end; until then it may still grow. */
  loaded?: Promise<unknown>;
}

/** A recording source, with the play position for the status bar and the topology. */
export interface RecordingSource extends JourneySource {
  topology(): TopologyView | null;
  /** Set the audience check after the server exists (it counts the clients). */
  playWhen(audience: () => boolean): void;
}

const TICK_MS = 50;

/** Journeys of a recording played into a sink. */
export function recordingSource(rec: ReadRecording, opts: PlayOptions): RecordingSource {
  const header = rec.header!;
  const times = rec.journeyTimesMs;
  const t0 = header.startedMs;
  // Playback: recorded time `startAt` was due at wall time `playStartedAt`; later ones at `speed`.
  let startAt = t0 + (opts.startAtS ?? 0) * 1000;
  let speed = opts.speed;
  const perTick = opts.perTick ?? 500;
  let audience = opts.audience;
  let sink: SourceSink | undefined;
  let next = 0;
  /** Recorded wall time being played. */
  let atMs = t0;
  let state: 'waiting' | 'playing' | 'paused' | 'ended' = 'waiting';
  /** Where a pause left the recorded clock (the next play starts there). */
  let pausedAt: number | undefined;
  let playStartedAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let loaded = opts.loaded === undefined;
  void opts.loaded?.then(
    () => (loaded = true),
    () => (loaded = true),
  );

  /** The last record at or before the play position (records are in time order), else the first. */
  const lastBefore = <T extends { tMs: number }>(xs: T[]): T | undefined => {
    let found = xs[0];
    for (const x of xs) {
      if (x.tMs > atMs) break;
      found = x;
    }
    return found;
  };

  const status = (): SourceStatus => {
    const recorded: AgentStatus | undefined = lastBefore(rec.statuses)?.status;
    return {
      tracer: 'stopped',
      probeSet: recorded?.probeSet ?? null,
      bpftraceVersion: recorded?.bpftraceVersion ?? null,
      sampling: recorded?.sampling ?? { enabled: false, description: 'not recorded', suppressed: 0 },
      counters: {
        eventsIn: recorded?.counters.eventsIn ?? 0,
        lostEvents: recorded?.counters.lostEvents ?? 0,
        bpftraceRestarts: recorded?.counters.bpftraceRestarts ?? 0,
        dropped: recorded?.counters.dropped ?? {},
      },
      message: `replaying a recording of ${header.source}`,
      ...(recorded?.lastGap ? { lastGap: recorded.lastGap } : {}),
      recording: { source: header.source, startedMs: t0, atMs, played: next, journeys: rec.journeys.length, loading: !loaded, speed, state },
    };
  };

  const tick = () => {
    if (!sink || state === 'paused') return;
    if (state === 'waiting') {
      if (!audience?.()) return;
      state = 'playing';
      playStartedAt = Date.now();
    }
    // Recorded time now due: everything up to `startAt` at once, then at `speed` (0: all).
    const due = speed === 0 ? Infinity : startAt + (Date.now() - playStartedAt) * speed;
    let n = 0;
    while (next < rec.journeys.length && times[next]! <= due && n < perTick) {
      atMs = Math.max(atMs, times[next]!);
      sink.onJourney(rec.journeys[next]! as Journey);
      next++;
      n++;
    }
    if (next >= rec.journeys.length && loaded) {
      state = 'ended';
      atMs = Math.max(atMs, rec.end?.tMs ?? atMs);
    } else if (due !== Infinity) atMs = Math.max(atMs, Math.min(due, times[next]!));
    sink.onStatus(status());
  };

  return {
    async start(s) {
      sink = s;
      timer = setInterval(tick, TICK_MS);
      tick();
    },
    setFilter() {
      // Nothing to narrow: every journey is already recorded; the fan-out filters per client.
    },
    status,
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      sink = undefined;
    },
    capabilities: () => ({ recording: { source: header.source, startedMs: t0, host: header.host, version: header.version, part: header.part } }),
    topology: () => lastBefore(rec.topologies)?.topology ?? null,
    playWhen(a) {
      audience = a;
    },
    replay(c: ReplayControl): string | undefined {
      if (state === 'waiting') return 'the replay has not started yet';
      const now = Date.now();
      const position = speed === 0 ? atMs : Math.max(startAt, startAt + (now - playStartedAt) * speed);
      switch (c.control) {
        case 'pause':
          if (state !== 'playing') return undefined;
          pausedAt = position;
          state = 'paused';
          break;
        case 'play':
          // Resume where it stood (or change pace): the recorded clock restarts from there.
          startAt = pausedAt ?? position;
          pausedAt = undefined;
          playStartedAt = now;
          if (c.speed !== undefined) speed = c.speed;
          if (state === 'paused') state = 'playing';
          break;
        case 'end':
          pausedAt = undefined;
          speed = 0;
          if (state === 'paused') state = 'playing';
          break;
        default: {
          const never: never = c.control;
          return `unknown control ${String(never)}`;
        }
      }
      sink?.onStatus(status());
      return undefined;
    },
  };
}
