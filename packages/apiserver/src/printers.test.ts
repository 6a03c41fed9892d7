import { describe, expect, it } from 'vitest';
import { humanDuration, toTable, wantsTable } from './printers.ts';

describe('printers', () => {
  it('prints ages as apimachinery HumanDuration does', () => {
    const s = 1000;
    expect(
      [
        0,
        59 * s,
        119 * s,
        150 * s,
        600 * s,
        179 * 60 * s,
        3 * 3600 * s + 5 * 60 * s,
        30 * 3600 * s,
        3 * 86400 * s + 3600 * s,
        400 * 86400 * s,
        3 * 365 * 86400 * s,
      ].map(humanDuration),
    ).toEqual(['0s', '59s', '119s', '2m30s', '10m', '179m', '3h5m', '30h', '3d1h', '400d', '3y']);
  });

  it('derives pod STATUS like printPod: waiting reason, Terminating, READY and RESTARTS', () => {
    const pod = (status: object, meta: object = {}) => ({
      metadata: { name: 'p', creationTimestamp: '2026-12-01T00:00:00Z', ...meta },
      spec: { containers: [{ name: 'a' }, { name: 'b' }] },
      status,
    });
    const now = Date.parse('2026-12-01T00:00:05Z');
    const t = toTable(
      'Pod',
      [
        pod({
          phase: 'Pending',
          containerStatuses: [
            { ready: false, restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } } },
            { ready: true, restartCount: 1, state: { running: {} } },
          ],
        }),
        pod({ phase: 'Running' }, { deletionTimestamp: '2026-12-01T00:01:00Z' }),
        pod({ phase: 'Failed', containerStatuses: [{ state: { terminated: { exitCode: 3 } } }] }),
      ],
      '9',
      { now },
    );
    expect(t.rows.map((r: { cells: unknown[] }) => r.cells.slice(0, 5))).toEqual([
      ['p', '1/2', 'CrashLoopBackOff', '3', '5s'],
      ['p', '0/2', 'Terminating', '0', '5s'],
      ['p', '0/2', 'ExitCode:3', '0', '5s'],
    ]);
    expect(t.rows[0].object).toEqual({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: expect.objectContaining({ name: 'p' }),
    });
  });

  it('prints Service ports with node ports and LoadBalancer as <pending>', () => {
    const t = toTable(
      'Service',
      [
        {
          metadata: { name: 's' },
          spec: {
            type: 'LoadBalancer',
            clusterIP: '10.96.0.5',
            ports: [
              { port: 80, nodePort: 30080, protocol: 'TCP' },
              { port: 53, protocol: 'UDP' },
            ],
          },
        },
      ],
      '1',
    );
    expect(t.rows[0].cells.slice(0, 5)).toEqual(['s', 'LoadBalancer', '10.96.0.5', '<pending>', '80:30080/TCP,53/UDP']);
  });

  it('recognises the Table Accept header kubectl sends', () => {
    expect(
      wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json'),
    ).toBe(true);
    expect(wantsTable('application/json')).toBe(false);
    expect(wantsTable(undefined)).toBe(false);
  });
});
