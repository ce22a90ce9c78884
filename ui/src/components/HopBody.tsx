// What one hop box says: title, where, the header (inside its encapsulation), NAT and drop.
// Shared by the hop diagram's cards and presenter mode's one large hop.
import type { HopBox } from '../domain/diagram.ts';

export function HopBody({ box: b }: { box: HopBox }) {
  return (
    <>
      <div className="hop-title">
        <span>{b.title}</span>
        <span className="hop-delta">{b.delta}</span>
      </div>
      <div className="hop-where">{b.where}</div>
      {b.encap ? (
        <div className="encap-outer">
          <div className="encap-label">
            {b.encap.label} · outer {b.encap.outer}
          </div>
          <div className="encap-inner">{b.header}</div>
        </div>
      ) : (
        <div className="hop-header">{b.header}</div>
      )}
      {b.nat && (
        <div className="hop-nat">
          <div>{b.nat.before}</div>
          <div>⇒ {b.nat.after}</div>
          {b.nat.rule && <div className="hop-rule">{b.nat.rule}</div>}
          {b.nat.lines?.map((l, i) => (
            <div key={i} className={l.startsWith('⚠') ? 'hop-rule hop-disagree' : 'hop-rule'}>
              {l}
            </div>
          ))}
        </div>
      )}
      {b.drop && <div className="hop-drop">✖ {b.drop}</div>}
    </>
  );
}
