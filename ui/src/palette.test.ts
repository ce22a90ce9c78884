// The page's palette (styles.css :root, read as the browser gets it) for colour-blind viewers:
// every colour that carries meaning stays distinguishable from the others it is shown with, as a
// protanope, deuteranope or tritanope sees it (Machado et al. 2009, severity 1.0), and every
// colour used as text keeps WCAG AA contrast (4.5:1) on the backgrounds it is drawn on.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { contrast, deltaE2000, parseHex, rootVars, simulate, toLab, type Deficiency, type Rgb } from './__tests__/colorVision.ts';

const css = readFileSync(new URL('./styles.css', import.meta.url), 'utf8');
const vars = rootVars(css);
const color = (name: string): Rgb => {
  const v = vars[name];
  if (!v) throw new Error(`styles.css :root has no --${name}`);
  return parseHex(v);
};

/**
 * CIEDE2000 at least this far apart in every vision: about five times the just-noticeable
 * difference (~2), i.e. seen as different colours side by side, not as shades of one.
 */
const MIN_DELTA_E = 11;
const VISIONS: ('normal' | Deficiency)[] = ['normal', 'protanopia', 'deuteranopia', 'tritanopia'];

/** Colours shown together whose difference means something. */
const GROUPS: Record<string, string[]> = {
  // the hop diagram: request and reply lines, NAT / drop / encapsulation boxes, the active hop
  diagram: ['req', 'rep', 'nat', 'bad', 'encap'],
  // box borders by hop kind (plain request, plain reply, NAT, drop, encapsulation, the active one)
  'hop kinds': ['line', 'reply-line', 'nat', 'bad', 'encap-line', 'req'],
  // verdicts in the lists: delivered, dropped, in flight / unknown
  verdicts: ['ok', 'bad', 'encap'],
  // the request's and the reply's lanes and edges
  directions: ['req', 'rep'],
};

/** Text colours and the backgrounds each is drawn on. */
const TEXT: [string[], string[]][] = [
  [['text', 'dim', 'req', 'rep', 'ok', 'bad', 'nat', 'encap', 'warn'], ['bg', 'panel', 'panel2', 'sel']],
  // the drop label and a rule the packet disagrees with: dark text on the drop colour
  [['bg'], ['bad']],
];

describe('colour science kit', () => {
  it('computes CIEDE2000 as Sharma, Wu & Dalal publish it', () => {
    // pairs 1, 7 and 17 of their test data
    expect(deltaE2000([50, 2.6772, -79.7751], [50, 0, -82.7485])).toBeCloseTo(2.0425, 4);
    expect(deltaE2000([50, 0, 0], [50, -1, 2])).toBeCloseTo(2.3669, 4);
    expect(deltaE2000([50, 2.5, 0], [73, 25, -18])).toBeCloseTo(27.1492, 4);
  });
  it('simulates dichromats: red and green collapse for a deuteranope, not for a tritanope', () => {
    const red = parseHex('#ff0000');
    const green = parseHex('#00b000');
    const d = (a: Rgb, b: Rgb) => deltaE2000(toLab(a), toLab(b));
    expect(d(red, green)).toBeGreaterThan(70);
    expect(d(simulate(red, 'deuteranopia'), simulate(green, 'deuteranopia'))).toBeLessThan(15);
    expect(d(simulate(red, 'tritanopia'), simulate(green, 'tritanopia'))).toBeGreaterThan(50);
    // white stays white (each matrix row sums to 1)
    for (const v of ['protanopia', 'deuteranopia', 'tritanopia'] as const) expect(simulate([1, 1, 1], v).map((x) => Math.round(x * 1000))).toEqual([1000, 1000, 1000]);
  });
  it('computes WCAG contrast', () => {
    expect(contrast(parseHex('#000'), parseHex('#fff'))).toBeCloseTo(21, 5);
    expect(contrast(parseHex('#777777'), parseHex('#ffffff'))).toBeCloseTo(4.48, 2);
  });
});

describe('the palette for colour-blind viewers', () => {
  for (const [group, names] of Object.entries(GROUPS))
    it(`keeps the ${group} colours (${names.join(', ')}) apart by ΔE2000 ≥ ${MIN_DELTA_E} in every vision`, () => {
      const close: string[] = [];
      for (const vision of VISIONS)
        for (let i = 0; i < names.length; i++)
          for (let j = i + 1; j < names.length; j++) {
            const see = (n: string) => toLab(vision === 'normal' ? color(n) : simulate(color(n), vision));
            const d = deltaE2000(see(names[i]!), see(names[j]!));
            if (d < MIN_DELTA_E) close.push(`${vision}: --${names[i]} / --${names[j]} ΔE ${d.toFixed(1)}`);
          }
      expect(close).toEqual([]);
    });

  it('keeps every text colour at contrast ≥ 4.5:1 on its backgrounds', () => {
    const low: string[] = [];
    for (const [fgs, bgs] of TEXT)
      for (const fg of fgs)
        for (const bg of bgs) {
          const c = contrast(color(fg), color(bg));
          if (c < 4.5) low.push(`--${fg} on --${bg}: ${c.toFixed(2)}:1`);
        }
    expect(low).toEqual([]);
  });

  it('draws the drop label and a disagreeing rule in dark text on the drop colour', () => {
    for (const sel of ['.hop-drop {', '.hop-rule.hop-disagree {']) {
      const rule = css.slice(css.indexOf(sel), css.indexOf('}', css.indexOf(sel)));
      expect(rule).toMatch(/[^-]color: var\(--bg\)/);
      expect(rule).toContain('background: var(--bad)');
    }
  });
});
