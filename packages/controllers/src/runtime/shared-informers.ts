// One informer per resource (and namespace), shared by every controller in the process, as
// client-go's SharedInformerFactory does (informers/factory.go): one list+watch per resource,
// one cache, many handlers.
import { Informer, type InformerOptions, type KubeClient, type KubeObject, type Logger, type ResourceName } from '@podnet/client';

export class SharedInformers {
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #informers = new Map<string, Informer<KubeObject>>();

  constructor(client: KubeClient, log: Logger) {
    this.#client = client;
    this.#log = log;
  }

  get<T extends KubeObject>(resource: ResourceName, opts: Omit<InformerOptions<T>, 'logger'> = {}): Informer<T> {
    const key = `${resource}|${opts.namespace ?? ''}`;
    let inf = this.#informers.get(key) as Informer<T> | undefined;
    if (!inf) {
      inf = new Informer<T>(this.#client.resource<T>(resource), { ...opts, logger: this.#log });
      this.#informers.set(key, inf as unknown as Informer<KubeObject>);
    } else if (opts.indexers) {
      throw new Error(`informer for ${key} already exists; pass its indexers where it is first made`);
    }
    return inf;
  }

  /** Every informer with its key ("resource|namespace"), for the control plane's /metrics. */
  entries(): Array<[string, Informer<KubeObject>]> {
    return [...this.#informers];
  }

  start(): void {
    for (const inf of this.#informers.values()) inf.start();
  }

  async waitForSync(timeoutMs = 60_000): Promise<void> {
    await Promise.all([...this.#informers.values()].map((i) => i.waitForSync(timeoutMs)));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#informers.values()].map((i) => i.stop()));
  }
}
