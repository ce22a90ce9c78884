// The traffic picker: choose an action, its target and where it runs from; the last picks stay
// at hand as one-click buttons. Built from the topology (no hard-coded names).
import { memo, useEffect, useMemo, useState } from 'react';
import type { LabAction, TopologyView } from '@hopscope/agent/protocol/messages.ts';
import { actionText, type ActionEntry } from '../store/reducer.ts';
import { PICK_KINDS, actionOf, defaultPick, offeredKinds, pickKey, pushRecent, settlePick, sourcesFor, targetsFor, type Pick, type PickKind, type PickOption } from '../domain/labPicker.ts';

/** Options of a select, under one heading per group (namespace, Deployment) when there are several. */
function Options({ options }: { options: PickOption[] }) {
  const groups = [...new Set(options.map((o) => o.group))];
  const list = (os: PickOption[]) =>
    os.map((o) => (
      <option key={o.value} value={o.value}>
        {o.label}
      </option>
    ));
  if (groups.length < 2) return <>{list(options)}</>;
  return (
    <>
      {groups.map((g) => (
        <optgroup key={g} label={g}>
          {list(options.filter((o) => o.group === g))}
        </optgroup>
      ))}
    </>
  );
}

export const LabButtons = memo(function LabButtons({ topology, actions, onAction, disabled }: { topology: TopologyView | null; actions: ActionEntry[]; onAction(label: string, a: LabAction): void; disabled: boolean }) {
  const [pick, setPick] = useState<Pick | null>(null);
  const [recent, setRecent] = useState<Pick[]>([]);
  // A scale changes the topology: keep the pick pointing at something that still exists.
  useEffect(() => {
    if (!topology) return;
    setPick((p) => (p ? settlePick(topology, p) : defaultPick(topology)));
  }, [topology]);
  const kinds = useMemo(() => (topology ? offeredKinds(topology) : []), [topology]);
  if (!topology || !pick) return null;
  const targets = targetsFor(topology, pick.kind);
  const sources = sourcesFor(topology, pick.kind);
  const run = (p: Pick) => {
    const a = actionOf(topology, p);
    if ('error' in a) return;
    setRecent((r) => pushRecent(r, p));
    onAction(a.label, a.action);
  };
  const chosen = actionOf(topology, pick);
  const last = actions[0];
  return (
    <div className="lab-buttons" data-testid="lab-picker">
      <label>
        <span className="dim">do</span>
        <select value={pick.kind} onChange={(e) => setPick(settlePick(topology, { ...pick, kind: e.target.value as PickKind }))} data-testid="pick-action">
          {PICK_KINDS.filter((k) => kinds.includes(k.kind)).map((k) => (
            <option key={k.kind} value={k.kind}>
              {k.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span className="dim">to</span>
        <select value={pick.target} onChange={(e) => setPick({ ...pick, target: e.target.value })} data-testid="pick-target">
          <Options options={targets} />
        </select>
      </label>
      {sources.length > 0 && (
        <label>
          <span className="dim">from</span>
          <select value={pick.from} onChange={(e) => setPick({ ...pick, from: e.target.value })} data-testid="pick-from">
            <Options options={sources} />
          </select>
        </label>
      )}
      <button className="pick-run" onClick={() => run(pick)} disabled={disabled || 'error' in chosen} data-testid="pick-run" title={'error' in chosen ? chosen.error : chosen.label}>
        ▶ run
      </button>
      {recent.length > 0 && (
        <span className="pick-recent" role="group" aria-label="recent actions">
          {recent.map((p) => {
            const a = actionOf(topology, p);
            // A recent pick the lab no longer offers (scaled away) is left out, not shown broken.
            if ('error' in a) return null;
            return (
              <button key={pickKey(p)} className="recent" onClick={() => run(p)} disabled={disabled} data-testid="pick-recent" data-pick={pickKey(p)}>
                ↻ {a.label}
              </button>
            );
          })}
        </span>
      )}
      {last && (
        <span className={`action-result a-${last.state}`} data-testid="action-result" data-state={last.state}>
          {last.describe}: {last.state === 'running' ? '…' : actionText(last) || last.state}
        </span>
      )}
    </div>
  );
});
