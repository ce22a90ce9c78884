import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUILTIN_LESSONS_DIR, loadLessons, parseLesson } from './lessons.ts';

describe('lesson files', () => {
  it('loads every lesson that ships, grouped by mode so each mode is built once', () => {
    const r = loadLessons(BUILTIN_LESSONS_DIR);
    expect(r.problems).toEqual([]);
    expect(r.lessons.length).toBeGreaterThanOrEqual(9);
    const modes = r.lessons.map((l) => `${l.mode.cni}+${l.mode.kubeProxy}`);
    // once a mode is left, it does not come back
    expect(modes.filter((m, i) => i === 0 || m !== modes[i - 1])).toEqual([...new Set(modes)]);
  });

  it('names the bad file and what is wrong with it, and still loads the others', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hopscope-lessons-'));
    try {
      writeFileSync(path.join(dir, 'good.yaml'), 'id: ok\ntitle: fine\nmode: { cni: flannel-vxlan, kubeProxy: iptables }\nparts: [{ title: t, journey: { hops: [dnat] } }]\n');
      writeFileSync(path.join(dir, 'bad.yaml'), 'id: Bad_Id\ntitle: x\nmode: { cni: weave, kubeProxy: iptables }\nparts: [{ title: t, journey: { hops: [teleport] } }]\n');
      writeFileSync(path.join(dir, 'broken.yaml'), 'id: [unclosed\n');
      writeFileSync(path.join(dir, 'huge.yaml'), `# ${'x'.repeat(70 * 1024)}\nid: huge\n`);
      const r = loadLessons(dir);
      expect(r.lessons.map((l) => l.id)).toEqual(['ok']);
      const bad = r.problems.find((p) => p.file === 'bad.yaml')!.error;
      expect(bad).toMatch(/^id: must be a DNS-1123 label/);
      expect(bad).toContain('mode.cni');
      expect(bad).toContain('parts.0.journey.hops.0');
      expect(r.problems.find((p) => p.file === 'broken.yaml')!.error).toMatch(/^not valid YAML/);
      expect(r.problems.find((p) => p.file === 'huge.yaml')!.error).toBe('over 65536 bytes');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('refuses a shell string where a command would go: there is no such field', () => {
    expect(() => parseLesson('id: x\ntitle: x\nmode: { cni: flannel-vxlan, kubeProxy: iptables }\nparts: [{ title: t, journey: {}, commands: ["rm -rf /"] }]\n')).toThrow(/Unrecognized key.*commands/);
  });
});
