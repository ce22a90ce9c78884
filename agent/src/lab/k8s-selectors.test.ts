import { describe, expect, it } from 'vitest';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from './k8s-selectors.ts';
import type { K8sObject } from './k8s-objects.ts';

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'front', 'app.kubernetes.io/name': 'shop' };
  it.each([
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app=db', false],
    ['app!=db', true],
    ['missing!=x', true],
    ['app in (db, web)', true],
    ['app notin (db,web)', false],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['app=web,tier=back', false],
    ['app.kubernetes.io/name=shop, app in (web)', true],
  ])('%j matches: %s', (sel, want) => {
    expect(matchLabels(parseLabelSelector(sel), labels)).toBe(want);
  });
  it('rejects bad syntax with the selector in the message', () => {
    expect(() => parseLabelSelector('app=we b')).toThrow(/app=we b/);
    expect(() => parseLabelSelector('a=$x')).toThrow(/bad value/);
  });
});

describe('field selectors', () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'default', uid: 'u' }, spec: { nodeName: 'node-1' } } as K8sObject;
  it('matches supported paths with = and !=', () => {
    expect(matchFields(parseFieldSelector('spec.nodeName=node-1', ['spec.nodeName']), pod)).toBe(true);
    expect(matchFields(parseFieldSelector('spec.nodeName=node-2', ['spec.nodeName']), pod)).toBe(false);
    expect(matchFields(parseFieldSelector('metadata.name!=p2,metadata.namespace=default', []), pod)).toBe(true);
  });
  it('refuses fields the resource does not support, as the API server does', () => {
    expect(() => parseFieldSelector('spec.nodeName=node-1', [])).toThrow(/field label not supported: spec.nodeName/);
  });
});
