import { describe, expect, it } from 'vitest';
import {
  checkFieldSelector,
  labelSelectorRequirements,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
} from './selectors.ts';

describe('label selectors', () => {
  const l = { app: 'web', tier: 'front', 'example.com/x': 'y' };
  const m = (s: string) => matchesLabels(parseLabelSelector(s), l);
  it('supports =, ==, !=, in, notin, exists and !key', () => {
    expect(m('app=web')).toBe(true);
    expect(m('app==web,tier=front')).toBe(true);
    expect(m('app!=web')).toBe(false);
    expect(m('missing!=x')).toBe(true);
    expect(m('tier in (front, back)')).toBe(true);
    expect(m('tier notin (front)')).toBe(false);
    expect(m('missing notin (a)')).toBe(true);
    expect(m('example.com/x')).toBe(true);
    expect(m('!missing')).toBe(true);
    expect(m('!app')).toBe(false);
    expect(m('')).toBe(true);
  });
  it('rejects malformed selectors with a SelectorError naming the part', () => {
    expect(() => parseLabelSelector('a b c')).toThrow(SelectorError);
    expect(() => parseLabelSelector('-bad=1')).toThrow(/invalid label key/);
  });
  it('converts metav1.LabelSelector', () => {
    const reqs = labelSelectorRequirements({
      matchLabels: { app: 'web' },
      matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }],
    });
    expect(matchesLabels(reqs, l)).toBe(true);
    expect(() => labelSelectorRequirements({ matchExpressions: [{ key: 'a', operator: 'Near' }] })).toThrow(/not a valid/);
  });
});

describe('field selectors', () => {
  const pod = { metadata: { name: 'p', namespace: 'default' }, spec: { nodeName: 'node-1' }, status: { phase: 'Running' } };
  it('matches metadata.name, spec.nodeName, status.phase with = and !=', () => {
    expect(matchesFields(parseFieldSelector('metadata.name=p,spec.nodeName=node-1'), pod)).toBe(true);
    expect(matchesFields(parseFieldSelector('status.phase!=Running'), pod)).toBe(false);
    expect(matchesFields(parseFieldSelector('spec.nodeName='), { metadata: {}, spec: {} })).toBe(true);
  });
  it('matches involvedObject.* on events', () => {
    const ev = { metadata: { name: 'e' }, involvedObject: { name: 'web-1', namespace: 'default', uid: 'u' } };
    expect(matchesFields(parseFieldSelector('involvedObject.name=web-1,involvedObject.namespace=default,involvedObject.uid=u'), ev)).toBe(
      true,
    );
  });
  it('refuses fields a kind cannot be selected by', () => {
    expect(() => checkFieldSelector('Pod', parseFieldSelector('spec.containers=x'))).toThrow(/field label not supported/);
    expect(() => checkFieldSelector('Event', parseFieldSelector('involvedObject.uid=x'))).not.toThrow();
  });
});
