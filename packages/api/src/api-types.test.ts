import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { qualifiedName, ROOT_MODELS, renderApiTypes } from '../scripts/gen-api-types.mjs';
import { API_TYPES } from './api-types.ts';

const models = { ...k8s } as unknown as Record<string, { attributeTypeMap: { baseName: string }[] } | undefined>;

describe('api-types.ts (generated from @kubernetes/client-node models)', () => {
  it('is what the generator writes today (rerun packages/api/scripts/gen-api-types.mjs if not)', () => {
    expect(readFileSync(new URL('./api-types.ts', import.meta.url), 'utf8')).toBe(renderApiTypes());
  });

  it('lists every field client-node knows for each served kind, under its JSON name', () => {
    for (const model of ROOT_MODELS) {
      const cls = models[model];
      const fields = (API_TYPES[qualifiedName(model)] ?? '').split(' ').map((f) => f.slice(0, f.indexOf(':')));
      expect(fields, model).toEqual(cls?.attributeTypeMap.map((a) => a.baseName));
    }
    expect(API_TYPES['core.v1.Container']).toContain('ports:[core.v1.ContainerPort]');
    expect(API_TYPES['core.v1.ServicePort']).toContain('targetPort:int-or-string');
    expect(API_TYPES['meta.v1.ObjectMeta']).toContain('labels:{string}');
  });

  it('names types by their Kubernetes package', () => {
    expect(qualifiedName('V1Deployment')).toBe('apps.v1.Deployment');
    expect(qualifiedName('V1ObjectMeta')).toBe('meta.v1.ObjectMeta');
    expect(qualifiedName('CoreV1Event')).toBe('core.v1.Event');
    expect(qualifiedName('DiscoveryV1EndpointPort')).toBe('discovery.v1.EndpointPort');
    expect(qualifiedName('CoreV1EndpointPort')).toBe('core.v1.EndpointPort');
    expect(qualifiedName('V1IPBlock')).toBe('networking.v1.IPBlock');
    expect(qualifiedName('V1LeaseSpec')).toBe('coordination.v1.LeaseSpec');
  });
});
