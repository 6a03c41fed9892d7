// Events for what the controllers do, recorded the way client-go's recorder does
// (tools/record/event.go, events_cache.go):
// - an identical event (same source, involved object, type, reason and message) seen again is
//   not created anew: the existing Event gets count+1 and a new lastTimestamp (the
//   EventCorrelator's `eventLogger` dedup, written as a patch);
// - more than 10 similar events (same source, object, type and reason, different messages)
//   within 10 minutes collapse into one whose message starts "(combined from similar events): "
//   (`EventAggregator`, defaultAggregateMaxEvents = 10, defaultAggregateIntervalInSeconds = 600);
// - names are "<object name>.<hex of the time in ns>" (event.go `makeEvent`), and events about a
//   cluster-scoped object (a Node) go to the "default" namespace, as kubelet and controllers do.
// Recording never blocks or fails the caller: writes are queued and failures logged.
import type { KubeClient, Logger, ResourceClient } from '@podnet/client';
import { isNotFound } from '@podnet/client';
import type { Event, ObjectReference } from '../kube-types.js';

export interface InvolvedObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
}

const AGGREGATE_MAX = 10;
const AGGREGATE_WINDOW_MS = 600_000;
const CACHE_MAX = 4096;

export class EventRecorder {
  readonly #events: ResourceClient<Event>;
  readonly #component: string;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #seen = new Map<string, Seen>();
  readonly #similar = new Map<string, { messages: Set<string>; since: number }>();
  #chain: Promise<void> = Promise.resolve();
  #seq = 0;

  constructor(client: KubeClient, component: string, log: Logger, now: () => Date = () => new Date()) {
    this.#events = client.resource<Event>('events');
    this.#component = component;
    this.#log = log;
    this.#now = now;
  }

  /** Records an event about `obj`; returns at once (the write happens in the background). */
  event(obj: InvolvedObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ref: ObjectReference = {
      kind: obj.kind,
      apiVersion: obj.apiVersion,
      name: obj.metadata?.name,
      namespace: obj.metadata?.namespace,
      uid: obj.metadata?.uid,
      resourceVersion: obj.metadata?.resourceVersion,
    };
    const objKey = `${this.#component}|${ref.kind}|${ref.namespace ?? ''}|${ref.name}|${ref.uid ?? ''}|${type}|${reason}`;
    const now = this.#now();
    let msg = message;
    const sim = this.#similar.get(objKey);
    if (!sim || now.getTime() - sim.since > AGGREGATE_WINDOW_MS) {
      if (this.#similar.size >= CACHE_MAX) this.#similar.delete(this.#similar.keys().next().value as string);
      this.#similar.set(objKey, { messages: new Set([message]), since: now.getTime() });
    } else {
      sim.messages.add(message);
      if (sim.messages.size > AGGREGATE_MAX) msg = `(combined from similar events): ${message}`;
    }
    const key = msg.startsWith('(combined') ? `${objKey}|combined` : `${objKey}|${msg}`;
    this.#chain = this.#chain
      .then(() => this.#write(key, ref, type, reason, msg, now))
      .catch((err) => {
        this.#log.warn({ reason, object: ref.name, err: (err as Error).message }, 'could not record event');
      });
  }

  /** Resolves when every event recorded so far has been written (for tests and shutdown). */
  flush(): Promise<void> {
    return this.#chain;
  }

  async #write(key: string, ref: ObjectReference, type: 'Normal' | 'Warning', reason: string, message: string, now: Date): Promise<void> {
    const ts = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const seen = this.#seen.get(key);
    if (seen) {
      try {
        await this.#events.patch(
          seen.name,
          { count: seen.count + 1, lastTimestamp: ts, message },
          { namespace: seen.namespace, type: 'merge' },
        );
        seen.count++;
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        this.#seen.delete(key); // expired or deleted on the server: start a new one
      }
    }
    const namespace = ref.namespace || 'default';
    const name = `${ref.name}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(this.#seq++ % 1_000_000)).toString(16)}`;
    await this.#events.create({
      metadata: { name, namespace },
      involvedObject: ref,
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: ts,
      lastTimestamp: ts,
      source: { component: this.#component },
      reportingComponent: this.#component,
    });
    if (this.#seen.size >= CACHE_MAX) this.#seen.delete(this.#seen.keys().next().value as string);
    this.#seen.set(key, { name, namespace, count: 1, firstTimestamp: ts });
  }
}
