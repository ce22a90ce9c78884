// What a hub adds to a journey's diagram: which agents' lanes it was stitched from, and the
// lanes it could not fill because that node's agent was not connected.
import type { Journey } from '@hopscope/agent/protocol/events.ts';

export function LaneNotes({ journey }: { journey: Journey }) {
  const agents = [...new Set(journey.hops.map((h) => h.agent).filter((a): a is string => !!a))];
  const missing = journey.missingAgents ?? [];
  if (agents.length < 2 && missing.length === 0) return null;
  return (
    <div className="lane-notes">
      {agents.length > 1 && (
        <span className="lane-stitched" data-testid="lanes-stitched">
          stitched from agents {agents.join(' + ')}
        </span>
      )}
      {missing.map((n) => (
        <span key={n} className="lane-missing" data-testid="lane-missing" data-node={n}>
          ⚠ lane {n} missing: its agent was not connected
        </span>
      ))}
    </div>
  );
}
