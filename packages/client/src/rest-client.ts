// The typed REST client: one ResourceClient per resource, with the verbs of the Kubernetes API
// conventions (get, list, create, update, updateStatus, patch, delete, watch) and their options
// spelled as the API spells its query parameters (apimachinery meta/v1 ListOptions, DeleteOptions).

import { ClientError, ClientErrorCodes } from './errors.js';
import { type Credentials, loadKubeconfig } from './kubeconfig.js';
import type { KubeObject, ObjectList } from './object.js';
import { protobufWatchCodec } from './protobuf-codec.js';
import { apiVersionOf, collectionPath, objectPath, type ResourceInfo, type ResourceName, resources } from './resources.js';
import { formatSelector } from './selector-format.js';
import { Transport, type TransportOptions } from './transport.js';
import { openWatch, type Watch, type WatchCodec, type WatchOptions } from './watch.js';

export interface NamespaceOption {
  namespace?: string;
}

export interface ListOptions extends NamespaceOption {
  labelSelector?: string | Record<string, string>;
  fieldSelector?: string | Record<string, string>;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
  signal?: AbortSignal;
}

export interface WriteOptions extends NamespaceOption {
  fieldManager?: string;
  dryRun?: 'All';
}

export type PatchType = 'merge' | 'strategic' | 'json';

const patchContentTypes: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

export interface PatchOptions extends WriteOptions {
  type?: PatchType;
  subresource?: string;
}

export interface DeleteOptions extends NamespaceOption {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
}

export class ResourceClient<T extends KubeObject = KubeObject> {
  readonly info: ResourceInfo;
  readonly #t: Transport;
  readonly #codecs: WatchCodec[];

  constructor(transport: Transport, info: ResourceInfo, codecs: WatchCodec[]) {
    this.#t = transport;
    this.info = info;
    this.#codecs = codecs;
  }

  #ns(namespace: string | undefined, obj?: KubeObject): string | undefined {
    if (!this.info.namespaced) return undefined;
    return namespace ?? obj?.metadata?.namespace ?? (obj ? 'default' : undefined);
  }

  #nameOf(obj: KubeObject, verb: string): string {
    const name = obj.metadata?.name;
    if (!name) throw new ClientError(ClientErrorCodes.USAGE, `${verb} ${this.info.resource}: the object has no metadata.name`);
    return name;
  }

  #withKind(obj: T): T {
    return { apiVersion: apiVersionOf(this.info), kind: this.info.kind, ...obj };
  }

  async get(name: string, opts: NamespaceOption & { signal?: AbortSignal } = {}): Promise<T> {
    const ns = this.#ns(opts.namespace) ?? (this.info.namespaced ? 'default' : undefined);
    return this.#t.json<T>({ method: 'GET', path: objectPath(this.info, name, ns), signal: opts.signal });
  }

  /** One page of the collection (all namespaces of a namespaced resource when namespace is unset). */
  async list(opts: ListOptions = {}): Promise<ObjectList<T>> {
    const list = await this.#t.json<ObjectList<T>>({
      method: 'GET',
      path: collectionPath(this.info, this.#ns(opts.namespace)),
      query: {
        labelSelector: formatSelector(opts.labelSelector),
        fieldSelector: formatSelector(opts.fieldSelector),
        limit: opts.limit,
        continue: opts.continue,
        resourceVersion: opts.resourceVersion,
        resourceVersionMatch: opts.resourceVersionMatch,
      },
      signal: opts.signal,
    });
    list.items ??= [];
    list.metadata ??= {};
    return list;
  }

  /**
   * Every page, following `continue` tokens (API conventions "List pagination"); the result
   * carries the first page's resourceVersion, the consistent snapshot all pages are read from.
   */
  async listAll(opts: Omit<ListOptions, 'continue'> = {}): Promise<ObjectList<T>> {
    const limit = opts.limit ?? 500;
    const first = await this.list({ ...opts, limit });
    const items = [...first.items];
    let token = first.metadata.continue;
    while (token) {
      const page = await this.list({ ...opts, limit, continue: token });
      items.push(...page.items);
      token = page.metadata.continue;
    }
    return { ...first, metadata: { resourceVersion: first.metadata.resourceVersion }, items };
  }

  async create(obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.#t.json<T>({
      method: 'POST',
      path: collectionPath(this.info, this.#ns(opts.namespace, obj)),
      query: { fieldManager: opts.fieldManager, dryRun: opts.dryRun },
      body: this.#withKind(obj),
    });
  }

  /** PUT of the whole object; the server rejects it with ConflictError if resourceVersion is stale. */
  async update(obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.#put(obj, opts, undefined);
  }

  /** PUT of the status subresource: only .status changes, as the API's status strategy enforces. */
  async updateStatus(obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.#put(obj, opts, 'status');
  }

  async #put(obj: T, opts: WriteOptions, subresource: string | undefined): Promise<T> {
    const name = this.#nameOf(obj, subresource ? 'updateStatus' : 'update');
    return this.#t.json<T>({
      method: 'PUT',
      path: objectPath(this.info, name, this.#ns(opts.namespace, obj), subresource),
      query: { fieldManager: opts.fieldManager, dryRun: opts.dryRun },
      body: this.#withKind(obj),
    });
  }

  async patch(name: string, patch: unknown, opts: PatchOptions = {}): Promise<T> {
    const type = opts.type ?? 'merge';
    const contentType = patchContentTypes[type];
    if (!contentType) throw new ClientError(ClientErrorCodes.USAGE, `patch type "${type}" is not merge, strategic or json`);
    return this.#t.json<T>({
      method: 'PATCH',
      path: objectPath(this.info, name, this.#ns(opts.namespace) ?? (this.info.namespaced ? 'default' : undefined), opts.subresource),
      query: { fieldManager: opts.fieldManager, dryRun: opts.dryRun },
      body: patch,
      contentType,
    });
  }

  /** DELETE with a DeleteOptions body (meta/v1 DeleteOptions); returns the server's answer. */
  async delete(name: string, opts: DeleteOptions = {}): Promise<T | undefined> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.preconditions) body.preconditions = opts.preconditions;
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    return this.#t.json<T | undefined>({
      method: 'DELETE',
      path: objectPath(this.info, name, this.#ns(opts.namespace) ?? (this.info.namespaced ? 'default' : undefined)),
      body,
    });
  }

  /** POST to a subresource of an object (pods/binding, pods/eviction). */
  async createSubresource<R = unknown>(name: string, subresource: string, body: unknown, opts: NamespaceOption = {}): Promise<R> {
    return this.#t.json<R>({
      method: 'POST',
      path: objectPath(this.info, name, this.#ns(opts.namespace) ?? (this.info.namespaced ? 'default' : undefined), subresource),
      body,
    });
  }

  /** Opens a watch over WebSocket (see watch.ts); resolves once the server accepted it. */
  watch(opts: WatchOptions = {}): Promise<Watch<T>> {
    return openWatch<T>(this.#t, this.info, { codecs: this.#codecs, ...opts });
  }
}

export interface ClientOptions extends Partial<TransportOptions> {
  /** A kubeconfig file to read server, CA and token from (options given here win). */
  kubeconfig?: string;
  context?: string;
  /**
   * "protobuf" (default): binary podnet.watch.v1 frames, a projection of each object (see
   * protobuf-codec.ts); "json": full objects in text frames. JSON is the fallback either way.
   */
  watchEncoding?: 'protobuf' | 'json';
  /** Watch codecs to offer, best first (overrides watchEncoding). */
  watchCodecs?: WatchCodec[];
}

/** The client of one API server: `client.pods.list()`, `client.resource('leases')`. */
export class KubeClient {
  readonly transport: Transport;
  readonly #codecs: WatchCodec[];
  readonly #byName = new Map<string, ResourceClient>();

  constructor(options: ClientOptions) {
    let creds: Partial<Credentials> = {};
    if (options.kubeconfig) creds = loadKubeconfig(options.kubeconfig, options.context);
    const server = options.server ?? creds.server;
    if (!server) throw new ClientError(ClientErrorCodes.USAGE, 'no API server: pass `server` or a `kubeconfig`');
    this.transport = new Transport({ ...options, server, caPem: options.caPem ?? creds.caPem, token: options.token ?? creds.token });
    this.#codecs = options.watchCodecs ?? (options.watchEncoding === 'json' ? [] : [protobufWatchCodec]);
  }

  resource<T extends KubeObject = KubeObject>(name: ResourceName): ResourceClient<T> {
    let rc = this.#byName.get(name);
    if (!rc) {
      const info = resources.get(name);
      if (!info) throw new ClientError(ClientErrorCodes.USAGE, `unknown resource "${name}"; known: ${[...resources.keys()].join(', ')}`);
      rc = new ResourceClient(this.transport, info, this.#codecs);
      this.#byName.set(name, rc);
    }
    return rc as unknown as ResourceClient<T>;
  }

  close(): void {
    this.transport.close();
  }
}
