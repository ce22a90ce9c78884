// Filter controls: validated with the protocol's schema before they are sent.
import { memo, useState } from 'react';
import { clientFilterSchema, type ClientFilter } from '@hopscope/agent/protocol/messages.ts';

export const FilterBar = memo(function FilterBar({
  filter,
  onApply,
  hideLoopback,
  onHideLoopback,
}: {
  filter: ClientFilter;
  onApply(f: ClientFilter): void;
  hideLoopback: boolean;
  onHideLoopback(on: boolean): void;
}) {
  const [draft, setDraft] = useState({
    namespace: filter.namespace ?? '',
    pod: filter.pod ?? '',
    service: filter.service ?? '',
    port: filter.port?.toString() ?? '',
    proto: filter.proto ?? '',
    onlyDrops: filter.onlyDrops,
    onlyNat: filter.onlyNat,
  });
  const [error, setError] = useState<string | null>(null);
  const apply = () => {
    const raw = {
      ...(draft.namespace ? { namespace: draft.namespace.trim() } : {}),
      ...(draft.pod ? { pod: draft.pod.trim() } : {}),
      ...(draft.service ? { service: draft.service.trim() } : {}),
      ...(draft.port ? { port: Number(draft.port) } : {}),
      ...(draft.proto ? { proto: draft.proto } : {}),
      onlyDrops: draft.onlyDrops,
      onlyNat: draft.onlyNat,
    };
    const r = clientFilterSchema.safeParse(raw);
    if (!r.success) {
      const i = r.error.issues[0];
      setError(`${i?.path.join('.')}: ${i?.message}`);
      return;
    }
    setError(null);
    onApply(r.data);
  };
  const text = (k: 'namespace' | 'pod' | 'service' | 'port', label: string, width = '8em') => (
    <label>
      {label}
      <input
        style={{ width }}
        value={draft[k]}
        onChange={(e) => setDraft({ ...draft, [k]: e.target.value })}
        onKeyDown={(e) => e.key === 'Enter' && apply()}
        data-testid={`filter-${k}`}
      />
    </label>
  );
  return (
    <div className="filter-bar">
      {text('namespace', 'ns')}
      {text('pod', 'pod')}
      {text('service', 'svc')}
      {text('port', 'port', '4.5em')}
      <label>
        proto
        <select value={draft.proto} onChange={(e) => setDraft({ ...draft, proto: e.target.value })}>
          <option value="">any</option>
          <option value="tcp">TCP</option>
          <option value="udp">UDP</option>
          <option value="icmp">ICMP</option>
        </select>
      </label>
      <label className="check">
        <input type="checkbox" checked={draft.onlyDrops} onChange={(e) => setDraft({ ...draft, onlyDrops: e.target.checked })} data-testid="filter-drops" />
        drops
      </label>
      <label className="check">
        <input type="checkbox" checked={draft.onlyNat} onChange={(e) => setDraft({ ...draft, onlyNat: e.target.checked })} />
        NAT
      </label>
      {/* Applies at once, in the page only: the agent sends loopback journeys either way. */}
      <label className="check" title="journeys that never left a pod (containers talking over lo)">
        <input type="checkbox" checked={hideLoopback} onChange={(e) => onHideLoopback(e.target.checked)} data-testid="filter-hide-loopback" />
        hide loopback
      </label>
      <button onClick={apply} data-testid="filter-apply">
        Filter
      </button>
      {error && <span className="filter-error">{error}</span>}
    </div>
  );
});
