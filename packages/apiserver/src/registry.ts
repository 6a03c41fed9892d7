// REST semantics over the store (the real apiserver's generic registry + per-kind strategies,
// staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go): create with defaulting,
// validation and generateName; update with optimistic concurrency; the three patch kinds;
// graceful deletion of bound pods, finalizers, and ownerReference garbage collection.
import { randomUUID } from 'node:crypto';
import {
  applyDefaults,
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  checkFieldSelector,
  type FieldError,
  type FieldRequirement,
  formatLabelSelector,
  type LabelRequirement,
  matchesFields,
  matchesLabels,
  PatchError,
  type PatchType,
  parseFieldSelector,
  parseLabelSelector,
  RESOURCES,
  type ResourceInfo,
  resourceKey,
  SelectorError,
  validateObject,
  validateUpdate,
} from '@podnet/api';
import { AllocationError, type ServiceAllocators } from './allocators.js';
import {
  type FieldValidation,
  fieldValidationOf,
  goValueString,
  outsideUnknown,
  strictBodyMessage,
  strictErrors,
  strictPatchError,
  unknownFields,
} from './fields.js';
import { ApiError, alreadyExists, badRequest, conflict, invalid, notFound } from './status.js';
import type { KubeObject, Store } from './store/store.js';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
type Obj = Record<string, any>;

const NS_RESOURCE = 'core/namespaces';
const FOREGROUND = 'foregroundDeletion';
const ORPHAN = 'orphan';
/** Kinds whose metadata.generation tracks spec changes. */
const HAS_GENERATION = new Set(['Deployment', 'ReplicaSet', 'NetworkPolicy', 'Pod']);
const HAS_STATUS = new Set(['Pod', 'Service', 'Node', 'Namespace', 'Deployment', 'ReplicaSet']);

export interface WriteOptions {
  fieldValidation?: string;
  dryRun?: boolean;
  /** The paths of the keys the JSON request body repeats (fields.ts duplicateFields), read when checked. */
  duplicateFields?: () => string[];
}

export interface WriteResult {
  object: KubeObject;
  warnings: string[];
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: string;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface Selectors {
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function rfc3339(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

// generateName suffix alphabet: no vowels, no confusable characters (apimachinery util/rand).
const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHANUMS[Math.floor(Math.random() * ALPHANUMS.length)];
  return s;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class Registry {
  constructor(
    readonly store: Store,
    readonly allocators: ServiceAllocators,
    private readonly now: () => number = Date.now,
  ) {}

  parseSelectors(info: ResourceInfo, opts: ListOptions): Selectors {
    try {
      const fields = parseFieldSelector(opts.fieldSelector);
      checkFieldSelector(info.kind, fields);
      return { labels: parseLabelSelector(opts.labelSelector), fields };
    } catch (e) {
      if (e instanceof SelectorError) throw badRequest(e.message);
      throw e;
    }
  }

  static matches(sel: Selectors, o: Obj): boolean {
    return matchesLabels(sel.labels, o.metadata?.labels) && matchesFields(sel.fields, o);
  }

  get(info: ResourceInfo, ns: string, name: string): KubeObject {
    const o = this.store.get(resourceKey(info), ns, name);
    if (!o) throw notFound(info.resource, info.group, name);
    return o;
  }

  list(
    info: ResourceInfo,
    ns: string | undefined,
    opts: ListOptions,
  ): { items: KubeObject[]; resourceVersion: string; continue?: string; remainingItemCount?: number } {
    const sel = this.parseSelectors(info, opts);
    let items = this.store.list(resourceKey(info), ns).filter((o) => Registry.matches(sel, o));
    const rv = String(this.store.resourceVersion);
    if (opts.continue) {
      let after: string;
      try {
        after = JSON.parse(Buffer.from(opts.continue, 'base64url').toString('utf8')).start as string;
        if (typeof after !== 'string') throw new Error('no start');
      } catch {
        throw badRequest(`invalid continue token "${opts.continue}": pass back the metadata.continue of the previous page unchanged`);
      }
      items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > after);
    }
    if (opts.limit && opts.limit > 0 && items.length > opts.limit) {
      const page = items.slice(0, opts.limit);
      const last = page[page.length - 1] as KubeObject;
      const token = Buffer.from(JSON.stringify({ rv, start: `${last.metadata.namespace ?? ''}/${last.metadata.name}` })).toString(
        'base64url',
      );
      return { items: page, resourceVersion: rv, continue: token, remainingItemCount: items.length - page.length };
    }
    return { items, resourceVersion: rv };
  }

  private checkBody(
    info: ResourceInfo,
    ns: string,
    body: unknown,
    opts: WriteOptions,
    options: 'CreateOptions' | 'UpdateOptions',
  ): { o: Obj; warnings: string[] } {
    const mode = fieldValidationOf(opts.fieldValidation, options);
    if (!isObj(body)) throw badRequest(`the request body must be a ${info.kind} object (a JSON or YAML mapping)`);
    const o = structuredClone(body) as Obj;
    const expectedApiVersion = info.group ? `${info.group}/${info.version}` : info.version;
    if (o.kind !== undefined && o.kind !== info.kind) {
      throw badRequest(`the body is a ${String(o.kind)}, but the URL names ${info.resource} (kind ${info.kind})`);
    }
    if (o.apiVersion !== undefined && o.apiVersion !== expectedApiVersion) {
      throw badRequest(`the body has apiVersion "${String(o.apiVersion)}", but the URL serves ${expectedApiVersion}`);
    }
    o.kind = info.kind;
    o.apiVersion = expectedApiVersion;
    if (o.metadata !== undefined && !isObj(o.metadata)) throw badRequest('metadata must be an object');
    o.metadata = { ...(o.metadata ?? {}) };
    if (info.namespaced) {
      if (o.metadata.namespace !== undefined && o.metadata.namespace !== '' && o.metadata.namespace !== ns) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      o.metadata.namespace = ns;
    } else delete o.metadata.namespace;
    // As the real server, which decodes into typed structs, unknown fields are never stored.
    const unknown = unknownFields(info.kind, o, true);
    if (mode === 'Ignore') return { o, warnings: [] };
    const errors = strictErrors(outsideUnknown(opts.duplicateFields?.() ?? [], unknown), unknown);
    if (mode === 'Strict' && errors.length > 0) throw badRequest(strictBodyMessage(info.kind, info.version, errors));
    return { o, warnings: errors };
  }

  private validateOrThrow(info: ResourceInfo, name: string, errs: FieldError[]): void {
    if (errs.length > 0) throw invalid(info.kind, info.group, name, errs);
  }

  async create(info: ResourceInfo, ns: string, body: unknown, opts: WriteOptions = {}): Promise<WriteResult> {
    const { o, warnings } = this.checkBody(info, ns, body, opts, 'CreateOptions');
    const meta = o.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomSuffix()}`;
    for (const k of ['resourceVersion', 'uid', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink']) delete meta[k];
    meta.uid = randomUUID();
    meta.creationTimestamp = rfc3339(this.now());
    if (HAS_GENERATION.has(info.kind)) meta.generation = 1;
    applyDefaults(info.kind, o);
    this.validateOrThrow(info, meta.name ?? '', validateObject(info.kind, o, info.namespaced));
    if (info.namespaced) {
      const nsObj = this.store.get(NS_RESOURCE, '', ns);
      if (!nsObj) throw notFound('namespaces', '', ns);
      if (nsObj.metadata.deletionTimestamp) {
        throw new ApiError(
          403,
          'Forbidden',
          `${info.resource} "${meta.name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
          { name: meta.name, kind: info.resource },
        );
      }
    }
    const key = resourceKey(info);
    if (this.store.get(key, ns, meta.name)) throw alreadyExists(info.resource, info.group, meta.name);
    let undo = () => {};
    if (info.kind === 'Service') undo = this.assignServiceAddresses(info, o);
    if (opts.dryRun) {
      undo();
      return { object: o as KubeObject, warnings };
    }
    const { durable } = this.store.commit(key, 'ADDED', o as KubeObject);
    return { object: await durable, warnings };
  }

  private assignServiceAddresses(info: ResourceInfo, o: Obj, prev?: Obj): () => void {
    try {
      return this.allocators.assign(o, prev);
    } catch (e) {
      if (e instanceof AllocationError) throw invalid(info.kind, info.group, o.metadata.name, [e.fieldError]);
      throw e;
    }
  }

  /**
   * PUT (and the last step of PATCH): `subresource` "status" takes only the status from the
   * body; the main resource keeps the stored status (status subresource semantics).
   */
  async update(
    info: ResourceInfo,
    ns: string,
    name: string,
    body: unknown,
    opts: WriteOptions & { subresource?: string } = {},
  ): Promise<WriteResult> {
    const key = resourceKey(info);
    const prev = this.store.get(key, ns, name);
    if (!prev) throw notFound(info.resource, info.group, name);
    const { o, warnings } = this.checkBody(info, ns, body, opts, 'UpdateOptions');
    if (o.metadata.name !== undefined && o.metadata.name !== name) {
      throw badRequest(`the name of the object (${String(o.metadata.name)}) does not match the name on the URL (${name})`);
    }
    const rv = o.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== prev.metadata.resourceVersion) {
      throw conflict(
        info.resource,
        info.group,
        name,
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    }
    let next: Obj;
    if (opts.subresource === 'status') {
      next = { ...structuredClone(prev), status: o.status };
    } else {
      next = o;
      next.metadata = {
        ...o.metadata,
        name,
        uid: prev.metadata.uid,
        creationTimestamp: prev.metadata.creationTimestamp,
        ...(prev.metadata.deletionTimestamp
          ? { deletionTimestamp: prev.metadata.deletionTimestamp, deletionGracePeriodSeconds: prev.metadata.deletionGracePeriodSeconds }
          : {}),
      };
      if (!prev.metadata.deletionTimestamp) {
        delete next.metadata.deletionTimestamp;
        delete next.metadata.deletionGracePeriodSeconds;
      }
      if (HAS_STATUS.has(info.kind)) next.status = structuredClone(prev.status);
      applyDefaults(info.kind, next);
      if (info.kind === 'Namespace') next.status = prev.status;
      if (HAS_GENERATION.has(info.kind)) {
        const g = prev.metadata.generation ?? 1;
        next.metadata.generation = same(prev.spec, next.spec) ? g : g + 1;
      }
    }
    next.metadata.resourceVersion = prev.metadata.resourceVersion;
    // Allocated values an update leaves out (clusterIP, nodePorts) are kept, as the real
    // service registry's patchAllocatedValues does, so `kubectl replace` works; then validate.
    let undo = () => {};
    if (info.kind === 'Service') undo = this.assignServiceAddresses(info, next, prev);
    try {
      this.validateOrThrow(info, name, [...validateObject(info.kind, next, info.namespaced), ...validateUpdate(info.kind, next, prev)]);
    } catch (e) {
      undo();
      throw e;
    }
    if (same(next, prev)) {
      undo();
      return { object: prev, warnings };
    }
    if (opts.dryRun) {
      undo();
      return { object: next as KubeObject, warnings };
    }
    // The last finalizer removed from an object being deleted: it goes now.
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0 && !this.waitsForKubelet(info, next)) {
      if (info.kind === 'Service') this.allocators.releaseDropped(prev, undefined);
      const { durable } = this.store.commit(key, 'DELETED', next as KubeObject);
      return { object: await durable, warnings };
    }
    if (info.kind === 'Service') this.allocators.releaseDropped(prev, next);
    const { durable } = this.store.commit(key, 'MODIFIED', next as KubeObject);
    return { object: await durable, warnings };
  }

  async patch(
    info: ResourceInfo,
    ns: string,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: WriteOptions & { subresource?: string; force?: boolean } = {},
  ): Promise<WriteResult & { created?: boolean }> {
    const key = resourceKey(info);
    const prev = this.store.get(key, ns, name);
    const mode = fieldValidationOf(opts.fieldValidation, 'PatchOptions');
    if (type === 'apply') {
      // Server-side apply, simplified: create when absent, else merge (RFC 7386) the applied
      // configuration into the live object. Field ownership (managedFields) is not tracked.
      if (!isObj(patch)) throw badRequest('an apply patch must be a YAML or JSON object');
      if (!prev) {
        const r = await this.create(
          info,
          ns,
          { ...patch, metadata: { ...(patch.metadata ?? {}), name } },
          { ...opts, fieldValidation: mode },
        );
        return { ...r, created: true };
      }
    }
    if (!prev) throw notFound(info.resource, info.group, name);
    const base = structuredClone(prev) as Obj;
    let patched: unknown;
    try {
      if (type === 'json') patched = applyJsonPatch(base, patch);
      else if (type === 'merge' || type === 'apply') patched = applyMergePatch(base, patch);
      else patched = applyStrategicMergePatch(base, patch, info.kind);
    } catch (e) {
      if (e instanceof PatchError) {
        if (e.status === 400) throw badRequest(e.message);
        throw new ApiError(422, 'Invalid', `${info.kind} "${name}" is invalid: ${e.message}`, {
          name,
          kind: info.kind,
          causes: [{ reason: 'FieldValueInvalid', message: e.message }],
        });
      }
      throw e;
    }
    if (!isObj(patched)) throw badRequest('the patched object is not an object');
    const pm = patched.metadata;
    // A patch that does not name a resourceVersion applies to the live object (no conflict).
    const patchNamesRv = isObj(patch) && isObj(patch.metadata) && patch.metadata.resourceVersion !== undefined;
    if (isObj(pm) && !patchNamesRv) pm.resourceVersion = prev.metadata.resourceVersion;
    const warnings = this.checkPatched(info, type, patch, patched, mode, opts);
    const r = await this.update(info, ns, name, patched, { ...opts, fieldValidation: 'Ignore' });
    return { ...r, warnings: [...warnings, ...r.warnings] };
  }

  /**
   * The unknown fields of the patched object and the duplicate keys of the patch itself
   * (handlers/patch.go: the patch bytes are read with UnmarshalStrict, the result decoded
   * strictly): under Strict a 422 on `patch`, under Warn the warnings.
   */
  private checkPatched(info: ResourceInfo, type: PatchType, patch: unknown, patched: Obj, mode: FieldValidation, opts: WriteOptions) {
    if (mode === 'Ignore') return [];
    // A JSON patch's duplicate keys are in its operations, which podnet does not decode strictly.
    const duplicates = type === 'json' ? [] : (opts.duplicateFields?.() ?? []);
    const errors = strictErrors(duplicates, unknownFields(info.kind, patched));
    if (mode === 'Strict' && errors.length > 0) {
      throw strictPatchError(type === 'strategic' ? goValueString(patch) : JSON.stringify(patched), errors);
    }
    return errors;
  }

  /** A pod bound to a node stays until its kubelet confirms the deletion (grace 0). */
  private waitsForKubelet(info: ResourceInfo, o: Obj): boolean {
    return (
      info.kind === 'Pod' &&
      Boolean(o.spec?.nodeName) &&
      !['Succeeded', 'Failed'].includes(o.status?.phase) &&
      (o.metadata.deletionGracePeriodSeconds ?? 0) > 0
    );
  }

  async delete(info: ResourceInfo, ns: string, name: string, opts: DeleteOptions = {}): Promise<KubeObject> {
    const key = resourceKey(info);
    const prev = this.store.get(key, ns, name);
    if (!prev) throw notFound(info.resource, info.group, name);
    const pre = opts.preconditions ?? {};
    if (pre.uid && pre.uid !== prev.metadata.uid) {
      throw conflict(
        info.resource,
        info.group,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${prev.metadata.uid}`,
      );
    }
    if (pre.resourceVersion && pre.resourceVersion !== prev.metadata.resourceVersion) {
      throw conflict(
        info.resource,
        info.group,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${prev.metadata.resourceVersion}`,
      );
    }
    // The NamespaceLifecycle admission plugin's immortal namespaces (plugin/pkg/admission/namespace/lifecycle).
    if (info.kind === 'Namespace' && ['default', 'kube-system', 'kube-public'].includes(name)) {
      throw new ApiError(403, 'Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, {
        name,
        kind: 'namespaces',
      });
    }
    const policy = opts.propagationPolicy ?? (prev.metadata.finalizers?.includes(ORPHAN) ? 'Orphan' : 'Background');
    if (!['Background', 'Foreground', 'Orphan'].includes(policy)) {
      throw invalid('DeleteOptions', '', '', [
        {
          type: 'NotSupported',
          field: 'propagationPolicy',
          value: policy,
          detail: 'supported values: "Foreground", "Background", "Orphan"',
        },
      ]);
    }
    if (policy === 'Orphan') await this.orphanDependents(prev);

    const next = structuredClone(prev) as Obj;
    let finalizers: string[] = next.metadata.finalizers ?? [];
    if (policy === 'Foreground' && this.dependentsOf(prev.metadata.uid).length > 0 && !finalizers.includes(FOREGROUND)) {
      finalizers = [...finalizers, FOREGROUND];
      next.metadata.finalizers = finalizers;
    }
    // Graceful pod deletion (pkg/registry/core/pod/strategy.go CheckGracefulDelete): a pod
    // bound to a node gets deletionTimestamp = now + grace; its kubelet stops it and deletes
    // it again with grace 0. Unbound or finished pods go at once.
    let grace = 0;
    if (info.kind === 'Pod') {
      grace = opts.gracePeriodSeconds ?? prev.spec?.terminationGracePeriodSeconds ?? 30;
      if (!prev.spec?.nodeName || ['Succeeded', 'Failed'].includes(prev.status?.phase)) grace = 0;
      const current = prev.metadata.deletionGracePeriodSeconds;
      if (prev.metadata.deletionTimestamp && current !== undefined && grace > current) grace = current;
    }
    if (finalizers.length > 0 || grace > 0) {
      if (
        !prev.metadata.deletionTimestamp ||
        (grace > 0 && grace < (prev.metadata.deletionGracePeriodSeconds ?? Infinity)) ||
        policy === 'Foreground'
      ) {
        next.metadata.deletionTimestamp =
          prev.metadata.deletionTimestamp && grace === 0 ? prev.metadata.deletionTimestamp : rfc3339(this.now() + grace * 1000);
        next.metadata.deletionGracePeriodSeconds = grace;
        if (info.kind === 'Namespace') next.status = { ...(next.status ?? {}), phase: 'Terminating' };
        const { durable } = this.store.commit(key, 'MODIFIED', next as KubeObject);
        const o = await durable;
        if (policy === 'Foreground') void this.deleteDependents(prev.metadata.uid, 'Foreground');
        if (info.kind === 'Namespace') void this.emptyNamespace(name);
        return o;
      }
      return prev;
    }
    if (info.kind === 'Namespace') {
      // Namespaces always finalize through emptying (the "kubernetes" finalizer in spec).
      const marked = {
        ...next,
        metadata: { ...next.metadata, deletionTimestamp: rfc3339(this.now()), deletionGracePeriodSeconds: 0 },
        status: { ...(next.status ?? {}), phase: 'Terminating' },
      };
      const { durable } = this.store.commit(key, 'MODIFIED', marked as KubeObject);
      const o = await durable;
      void this.emptyNamespace(name);
      return o;
    }
    if (info.kind === 'Service') this.allocators.releaseDropped(prev, undefined);
    const { durable } = this.store.commit(key, 'DELETED', prev);
    const o = await durable;
    if (policy === 'Background') void this.deleteDependents(prev.metadata.uid, 'Background');
    return o;
  }

  async deleteCollection(info: ResourceInfo, ns: string | undefined, listOpts: ListOptions, opts: DeleteOptions): Promise<KubeObject[]> {
    const { items } = this.list(info, ns, { labelSelector: listOpts.labelSelector, fieldSelector: listOpts.fieldSelector });
    const out: KubeObject[] = [];
    for (const o of items) {
      try {
        out.push(await this.delete(info, o.metadata.namespace ?? '', o.metadata.name, opts));
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
    return out;
  }

  /** Every stored object with an ownerReference to `uid` (from the store's owner index). */
  dependentsOf(uid: string): { info: ResourceInfo; o: KubeObject }[] {
    const out: { info: ResourceInfo; o: KubeObject }[] = [];
    for (const { resource, object } of this.store.dependents(uid)) {
      const info = RESOURCES.find((r) => resourceKey(r) === resource);
      if (info) out.push({ info, o: object });
    }
    return out;
  }

  private async orphanDependents(owner: KubeObject): Promise<void> {
    for (const { info, o } of this.dependentsOf(owner.metadata.uid)) {
      const next = structuredClone(o) as Obj;
      next.metadata.ownerReferences = (next.metadata.ownerReferences as Obj[]).filter((r) => r.uid !== owner.metadata.uid);
      if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
      await this.store.commit(resourceKey(info), 'MODIFIED', next as KubeObject).durable;
    }
  }

  /**
   * Garbage collection (pkg/controller/garbagecollector): dependents whose only owner is gone
   * are deleted with the same propagation; dependents with another live owner lose the reference.
   */
  async deleteDependents(uid: string, policy: 'Background' | 'Foreground'): Promise<void> {
    for (const { info, o } of this.dependentsOf(uid)) {
      const others = (o.metadata.ownerReferences as Obj[]).filter((r) => r.uid !== uid && this.ownerAlive(r.uid));
      try {
        if (others.length > 0) {
          const next = structuredClone(o) as Obj;
          next.metadata.ownerReferences = (next.metadata.ownerReferences as Obj[]).filter((r) => r.uid !== uid);
          await this.store.commit(resourceKey(info), 'MODIFIED', next as KubeObject).durable;
        } else if (!o.metadata.deletionTimestamp || policy === 'Foreground') {
          await this.delete(info, o.metadata.namespace ?? '', o.metadata.name, { propagationPolicy: policy });
        }
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
  }

  private ownerAlive(uid: string): boolean {
    const owner = this.store.getByUid(uid);
    return owner !== undefined && !owner.object.metadata.deletionTimestamp;
  }

  private async emptyNamespace(ns: string): Promise<void> {
    for (const info of RESOURCES) {
      if (!info.namespaced) continue;
      for (const o of this.store.list(resourceKey(info), ns)) {
        try {
          await this.delete(info, ns, o.metadata.name, { propagationPolicy: 'Background' });
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
      }
    }
    await this.finalizePending();
  }

  /**
   * Completes deletions that waited on something now gone: owners in foreground deletion whose
   * dependents are all deleted, and terminating namespaces that are empty. Called after every
   * durable DELETED event.
   */
  async finalizePending(): Promise<void> {
    for (const { resource, object: o } of this.store.terminating()) {
      const info = RESOURCES.find((r) => resourceKey(r) === resource);
      const m = o.metadata;
      // Runs may overlap (one per DELETED event): act only on an object no one changed since.
      const current = () => this.store.get(resource, m.namespace ?? '', m.name) === o;
      if (!info || !current()) continue;
      if (info.kind === 'Namespace') {
        const empty = RESOURCES.every((r) => !r.namespaced || this.store.list(resourceKey(r), m.name).length === 0);
        if (empty) await this.store.commit(NS_RESOURCE, 'DELETED', o).durable;
        continue;
      }
      if ((m.finalizers ?? []).includes(FOREGROUND) && this.dependentsOf(m.uid).length === 0) {
        const next = structuredClone(o) as Obj;
        next.metadata.finalizers = (m.finalizers as string[]).filter((f) => f !== FOREGROUND);
        if (next.metadata.finalizers.length === 0) delete next.metadata.finalizers;
        await this.update(info, m.namespace ?? '', m.name, next);
      }
    }
  }

  // ---- pods/binding and pods/eviction ------------------------------------------------------

  /**
   * pods/binding (pkg/registry/core/pod/storage/storage.go BindingREST): sets spec.nodeName of
   * an unbound pod, once, and its PodScheduled condition. The pod-spec immutability check does
   * not apply: binding is the one way nodeName is meant to be set.
   */
  async bind(info: ResourceInfo, ns: string, name: string, body: unknown): Promise<Obj> {
    if (!isObj(body) || !isObj(body.target) || typeof body.target.name !== 'string' || body.target.name === '') {
      throw invalid('Binding', '', name, [{ type: 'Required', field: 'target.name' }]);
    }
    const pod = this.get(info, ns, name);
    const uid = isObj(body.metadata) ? body.metadata.uid : undefined;
    if (uid && uid !== pod.metadata.uid)
      throw conflict('pods/binding', '', name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${pod.metadata.uid}`);
    if (pod.metadata.deletionTimestamp)
      throw conflict('pods/binding', '', name, `pod ${name} is being deleted, cannot be assigned to a host`);
    if (pod.spec?.nodeName) throw conflict('pods/binding', '', name, `pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
    const next = structuredClone(pod) as Obj;
    next.spec.nodeName = body.target.name;
    next.status ??= {};
    const conditions = (next.status.conditions ?? []).filter((c: Obj) => c.type !== 'PodScheduled');
    next.status.conditions = [
      ...conditions,
      { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: rfc3339(this.now()) },
    ];
    await this.store.commit(resourceKey(info), 'MODIFIED', next as KubeObject).durable;
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  }

  /** pods/eviction (policy/v1 Eviction): a graceful delete (no PodDisruptionBudgets in podnet). */
  async evict(info: ResourceInfo, ns: string, name: string, body: unknown): Promise<Obj> {
    const opts = isObj(body) && isObj(body.deleteOptions) ? body.deleteOptions : {};
    await this.delete(info, ns, name, { gracePeriodSeconds: opts.gracePeriodSeconds, preconditions: opts.preconditions });
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  }

  // ---- scale subresource (autoscaling/v1 Scale) ---------------------------------------

  toScale(o: KubeObject): Obj {
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: { replicas: o.spec?.replicas ?? 0 },
      status: { replicas: o.status?.replicas ?? 0, selector: o.spec?.selector ? formatLabelSelector(o.spec.selector) : '' },
    };
  }

  async updateScale(info: ResourceInfo, ns: string, name: string, scale: unknown): Promise<Obj> {
    if (!isObj(scale) || !isObj(scale.spec)) throw badRequest('the body must be an autoscaling/v1 Scale with spec.replicas');
    const replicas = scale.spec.replicas;
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw invalid('Scale', 'autoscaling', name, [
        { type: 'Invalid', field: 'spec.replicas', value: replicas, detail: 'must be greater than or equal to 0' },
      ]);
    }
    const o = this.get(info, ns, name);
    const rv = isObj(scale.metadata) ? scale.metadata.resourceVersion : undefined;
    if (rv && rv !== o.metadata.resourceVersion) {
      throw conflict(
        info.resource,
        info.group,
        name,
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    }
    const next = structuredClone(o);
    next.spec.replicas = replicas;
    const r = await this.update(info, ns, name, next, { fieldValidation: 'Ignore' });
    return this.toScale(r.object);
  }
}
