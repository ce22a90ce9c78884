// Connection, tracer, probe set, loss counters and sampling, always visible.
import type { ReplayControl } from '@hopscope/agent/protocol/messages.ts';
import type { UiState } from '../store/reducer.ts';

export function StatusBar({ s, onReplay }: { s: UiState; onReplay?(c: ReplayControl): void }) {
  const st = s.status;
  const dropped = st ? Object.entries(st.counters.dropped).filter(([, n]) => n > 0) : [];
  return (
    <footer className="status-bar" data-testid="status-bar">
      <span className={`conn conn-${s.connection}`} data-testid="connection">
        ● {s.connection}
        {s.connection === 'closed' && s.closeReason ? `: ${s.closeReason}` : ''}
      </span>
      {st?.recording && (
        <span className="recording" data-testid="recording" data-state={st.recording.state} title={`recorded from ${new Date(st.recording.startedMs).toLocaleString()}`}>
          ▶ recording of {st.recording.source} from {new Date(st.recording.startedMs).toLocaleString()} · {st.recording.state}{' '}
          {st.recording.played}/{st.recording.journeys}{st.recording.loading ? ' (reading…)' : ''} · at {new Date(st.recording.atMs).toLocaleTimeString()}
          {st.recording.speed === 0 ? ' · all at once' : st.recording.speed !== 1 ? ` · ×${st.recording.speed}` : ''}
        </span>
      )}
      {st?.recording && onReplay && st.recording.state !== 'ended' && st.recording.state !== 'waiting' && (
        <span className="replay-controls">
          {st.recording.state === 'paused' ? (
            <button onClick={() => onReplay({ control: 'play' })} data-testid="replay-play">
              ▶ play
            </button>
          ) : (
            <button onClick={() => onReplay({ control: 'pause' })} data-testid="replay-pause">
              ❚❚ pause
            </button>
          )}
          {[1, 10].map((x) => (
            <button key={x} className={st.recording?.speed === x ? 'on' : ''} onClick={() => onReplay({ control: 'play', speed: x })} data-testid={`replay-speed-${x}`}>
              ×{x}
            </button>
          ))}
          <button onClick={() => onReplay({ control: 'end' })} data-testid="replay-end" title="deliver the rest at once">
            ⏭ jump to the end
          </button>
        </span>
      )}
      {st?.transport?.mode === 'insecure' && (
        // Plain HTTP beyond loopback (--insecure): the token and every journey cross the network in clear.
        <span className="insecure" data-testid="transport-insecure" title={st.transport.detail}>
          ⚠ INSECURE: plain HTTP on the network
        </span>
      )}
      {st?.transport?.mode === 'mtls' && (
        <span className={st.transport.expired ? 'warn' : ''} data-testid="transport-mtls" title={st.transport.detail}>
          mutual TLS{st.transport.expired ? ' (certificate EXPIRED)' : ''}
        </span>
      )}
      {st && (
        <>
          {!st.recording && <span>tracer {st.tracer}{st.message ? ` (${st.message})` : ''}</span>}
          <span>probes {st.probeSet ?? '—'}</span>
          {st.bpftraceVersion && <span>bpftrace {st.bpftraceVersion}</span>}
          <span>sampling {st.sampling.enabled ? st.sampling.description : 'off'}</span>
          <span className={st.counters.lostEvents > 0 ? 'warn' : ''}>lost {st.counters.lostEvents}</span>
          {dropped.map(([k, n]) => (
            <span key={k} className="warn">
              dropped {k} {n}
            </span>
          ))}
          <span>events {st.counters.eventsIn}</span>
          {st.lastGap && (
            <span className="warn" data-testid="last-gap" title={st.lastGap.reason}>
              tracer gap {((st.lastGap.toMs - st.lastGap.fromMs) / 1000).toFixed(1)} s at{' '}
              {new Date(st.lastGap.fromMs).toLocaleTimeString()}
            </span>
          )}
          {st.lab && (
            <span data-testid="lab-mode" data-cni={st.lab.cni} data-kube-proxy={st.lab.kubeProxy ?? ''}>
              lab "{st.lab.name}" ({st.lab.cni}){st.lab.kubeProxy ? ` · kube-proxy ${st.lab.kubeProxy}` : ''}
            </span>
          )}
          {st.lab?.rebuilding && (
            <span className="warn" data-testid="lab-rebuilding">
              rebuilding the lab as {st.lab.rebuilding.cni} + {st.lab.rebuilding.kubeProxy}…
            </span>
          )}
        </>
      )}
      {s.missed > 0 && <span className="warn">missed {s.missed} (too slow)</span>}
      <span>{s.journeys.length} journeys{s.paused ? ' · PAUSED' : ''}</span>
      {/* Every journey sent to this page: listed, aged out of the list or filtered here. */}
      <span data-testid="received" data-received={s.received}>
        received {s.received}
      </span>
      {s.hideLoopback && s.hiddenLoopback > 0 && (
        <span data-testid="hidden-loopback" title="journeys that never left a pod; untick “hide loopback” to list them">
          {s.hiddenLoopback} loopback hidden
        </span>
      )}
      {s.error && <span className="warn">{s.error}</span>}
    </footer>
  );
}
