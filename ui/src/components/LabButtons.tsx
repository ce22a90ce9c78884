// Buttons that make lab traffic, built from the topology (no hard-coded names).
import { memo } from 'react';
import type { LabAction, TopologyView } from '@hopscope/agent/protocol/messages.ts';
import type { ActionEntry } from '../store/reducer.ts';

/** The actions offered for a topology, with their button labels. */
export function labActions(t: TopologyView): { label: string; action: LabAction; testId: string }[] {
  const out: { label: string; action: LabAction; testId: string }[] = [];
  const dns = t.services.find((s) => s.name === 'kube-dns');
  for (const s of t.services) {
    if (s === dns) continue;
    if (s.type === 'ClusterIP' && s.ports.some((p) => p.protocol === 'TCP'))
      out.push({ label: `curl svc/${s.name}`, action: { kind: 'curl', service: { namespace: s.namespace, name: s.name } }, testId: `act-curl-${s.name}` });
    const np = s.ports.find((p) => p.nodePort);
    if (np?.nodePort)
      out.push({ label: `NodePort :${np.nodePort}`, action: { kind: 'nodeport', service: { namespace: s.namespace, name: s.name } }, testId: `act-nodeport-${s.name}` });
  }
  const first = t.services.find((s) => s !== dns && s.type === 'ClusterIP');
  if (dns && first) {
    const name = `${first.name}.${first.namespace}.svc.cluster.local`;
    out.push({ label: `dig ${first.name}`, action: { kind: 'dig', name }, testId: 'act-dig' });
  }
  for (const d of t.deployments) {
    out.push({ label: `scale ${d.name} → ${d.replicas + 1}`, action: { kind: 'scale', namespace: d.namespace, deployment: d.name, replicas: Math.min(20, d.replicas + 1) }, testId: `act-scale-up-${d.name}` });
    if (d.replicas > 0)
      out.push({ label: `scale ${d.name} → ${d.replicas - 1}`, action: { kind: 'scale', namespace: d.namespace, deployment: d.name, replicas: d.replicas - 1 }, testId: `act-scale-down-${d.name}` });
    // A closed port on a backend: the kernel drops the SYN with a reason.
    const pod = t.pods.find((p) => p.deployment === d.name && p.namespace === d.namespace);
    if (pod) out.push({ label: `closed port on ${d.name}`, action: { kind: 'connect', pod: { namespace: pod.namespace, name: pod.name }, port: 9 }, testId: `act-closed-${d.name}` });
  }
  return out;
}

export const LabButtons = memo(function LabButtons({ topology, actions, onAction, disabled }: { topology: TopologyView | null; actions: ActionEntry[]; onAction(label: string, a: LabAction): void; disabled: boolean }) {
  if (!topology) return null;
  const last = actions[0];
  return (
    <div className="lab-buttons">
      {labActions(topology).map((b) => (
        <button key={b.testId} onClick={() => onAction(b.label, b.action)} disabled={disabled} data-testid={b.testId}>
          {b.label}
        </button>
      ))}
      {last && (
        <span className={`action-result a-${last.state}`} data-testid="action-result" data-state={last.state}>
          {last.describe}: {last.state === 'running' ? '…' : last.output || last.state}
        </span>
      )}
    </div>
  );
});
