// Pod events as the kubelet's recorder posts them (source.component "kubelet", host = node): a
// repeat of the same reason and message on the same object bumps count and lastTimestamp of one
// Event, as client-go's EventCorrelator does.
import { randomBytes } from 'node:crypto';
import type { KubeClient, KubeObject, Logger } from '@podnet/client';
import { rfc3339 } from '../kube-types.js';

export interface EventTarget {
  name: string;
  namespace: string;
  uid?: string;
}

export class EventRecorder {
  readonly #seen = new Map<string, { name: string; count: number; first: string }>();
  readonly #log: Logger;

  constructor(
    readonly client: KubeClient,
    readonly node: string,
    log: Logger,
  ) {
    this.#log = log;
  }

  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string, fieldPath?: string): void {
    void this.#post(target, type, reason, message, fieldPath).catch((e) =>
      this.#log.warn({ err: (e as Error).message, reason }, 'cannot post event'),
    );
  }

  async #post(target: EventTarget, type: string, reason: string, message: string, fieldPath?: string): Promise<void> {
    const events = this.client.resource<KubeObject>('events');
    const key = `${target.uid}|${reason}|${message}`;
    const now = rfc3339(new Date());
    const seen = this.#seen.get(key);
    if (seen) {
      seen.count++;
      await events.patch(seen.name, { count: seen.count, lastTimestamp: now }, { namespace: target.namespace, type: 'merge' });
      return;
    }
    const name = `${target.name}.${randomBytes(8).toString('hex')}`;
    this.#seen.set(key, { name, count: 1, first: now });
    if (this.#seen.size > 5000) this.#seen.delete(this.#seen.keys().next().value as string);
    await events.create(
      {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: target.namespace },
        involvedObject: {
          kind: 'Pod',
          apiVersion: 'v1',
          name: target.name,
          namespace: target.namespace,
          ...(target.uid ? { uid: target.uid } : {}),
          ...(fieldPath ? { fieldPath } : {}),
        },
        reason,
        message,
        type,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: 'kubelet', host: this.node },
        reportingComponent: 'kubelet',
        reportingInstance: this.node,
      } as unknown as KubeObject,
      { namespace: target.namespace },
    );
  }
}
