// Validation with field paths, as apimachinery's field.ErrorList: each error names the field
// (`spec.ports[0].port`), its kind (Invalid, Required, ...) and why; the apiserver turns the
// list into a 422 Invalid Status with one cause per error (pkg/api/errors NewInvalid).
// Name and label rules follow apimachinery pkg/util/validation/validation.go.

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
type Obj = Record<string, any>;

export type FieldErrorType = 'Invalid' | 'Required' | 'NotSupported' | 'Duplicate' | 'Forbidden';

export interface FieldError {
  type: FieldErrorType;
  field: string;
  value?: unknown;
  detail?: string;
}

/** Status cause reason for each error type (metav1.CauseType). */
export const CAUSE_REASON: Record<FieldErrorType, string> = {
  Invalid: 'FieldValueInvalid',
  Required: 'FieldValueRequired',
  NotSupported: 'FieldValueNotSupported',
  Duplicate: 'FieldValueDuplicate',
  Forbidden: 'FieldValueForbidden',
};

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

/** The text of one error, as field.Error.Error() prints it. */
export function formatFieldError(e: FieldError): string {
  const d = e.detail ? `: ${e.detail}` : '';
  switch (e.type) {
    case 'Invalid':
      return `${e.field}: Invalid value: ${show(e.value)}${d}`;
    case 'Required':
      return `${e.field}: Required value${d}`;
    case 'NotSupported':
      return `${e.field}: Unsupported value: ${show(e.value)}${d}`;
    case 'Duplicate':
      return `${e.field}: Duplicate value: ${show(e.value)}`;
    case 'Forbidden':
      return `${e.field}: Forbidden${d}`;
  }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

export function isDns1123Label(s: string): string | undefined {
  if (s.length > 63) return 'must be no more than 63 characters';
  if (!DNS1123_LABEL.test(s)) {
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  }
  return undefined;
}

export function isDns1123Subdomain(s: string): string | undefined {
  if (s.length > 253) return 'must be no more than 253 characters';
  if (!DNS1123_SUBDOMAIN.test(s)) {
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  }
  return undefined;
}

export function isDns1035Label(s: string): string | undefined {
  if (s.length > 63) return 'must be no more than 63 characters';
  if (!DNS1035_LABEL.test(s)) {
    return "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
  }
  return undefined;
}

export function isQualifiedName(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2)
    return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'";
  const name = parts[parts.length - 1] ?? '';
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    if (prefix === '' || isDns1123Subdomain(prefix)) return 'prefix part must be a lowercase RFC 1123 subdomain';
  }
  if (name === '' || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), at most 63 characters";
  }
  return undefined;
}

export function isLabelValue(v: string): string | undefined {
  if (v.length > 63 || !LABEL_VALUE.test(v)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'), at most 63 characters";
  }
  return undefined;
}

function validateLabels(labels: unknown, field: string, errs: FieldError[]): void {
  if (labels === undefined || labels === null) return;
  if (typeof labels !== 'object' || Array.isArray(labels)) {
    errs.push({ type: 'Invalid', field, value: labels, detail: 'must be a map of string keys to string values' });
    return;
  }
  for (const [k, v] of Object.entries(labels as Obj)) {
    const ke = isQualifiedName(k);
    if (ke) errs.push({ type: 'Invalid', field, value: k, detail: ke });
    if (typeof v !== 'string') errs.push({ type: 'Invalid', field: `${field}[${k}]`, value: v, detail: 'label values must be strings' });
    else {
      const ve = isLabelValue(v);
      if (ve) errs.push({ type: 'Invalid', field: `${field}[${k}]`, value: v, detail: ve });
    }
  }
}

/** Which name rule each kind uses (ValidateObjectMeta name funcs in kubernetes pkg/apis/core/validation). */
const NAME_RULE: Record<string, (s: string) => string | undefined> = {
  Namespace: isDns1123Label,
  Service: isDns1035Label,
};

export function validateMeta(kind: string, meta: Obj, namespaced: boolean, errs: FieldError[]): void {
  const name = meta.name;
  if (name === undefined || name === '') {
    errs.push({ type: 'Required', field: 'metadata.name', detail: 'name or generateName is required' });
  } else if (typeof name !== 'string') {
    errs.push({ type: 'Invalid', field: 'metadata.name', value: name, detail: 'must be a string' });
  } else {
    const e = (NAME_RULE[kind] ?? isDns1123Subdomain)(name);
    if (e) errs.push({ type: 'Invalid', field: 'metadata.name', value: name, detail: e });
  }
  if (namespaced && meta.namespace !== undefined && typeof meta.namespace === 'string') {
    const e = isDns1123Label(meta.namespace);
    if (e) errs.push({ type: 'Invalid', field: 'metadata.namespace', value: meta.namespace, detail: e });
  }
  validateLabels(meta.labels, 'metadata.labels', errs);
  if (meta.annotations !== undefined && (typeof meta.annotations !== 'object' || meta.annotations === null)) {
    errs.push({ type: 'Invalid', field: 'metadata.annotations', value: meta.annotations, detail: 'must be a map' });
  }
}

const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

function validPort(v: unknown): boolean {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
}

function checkProtocol(p: unknown, field: string, errs: FieldError[]): void {
  if (p !== undefined && !PROTOCOLS.includes(p as string)) {
    errs.push({ type: 'NotSupported', field, value: p, detail: 'supported values: "SCTP", "TCP", "UDP"' });
  }
}

function validateContainers(list: unknown, field: string, errs: FieldError[], required: boolean): void {
  if (!Array.isArray(list) || list.length === 0) {
    if (required) errs.push({ type: 'Required', field });
    return;
  }
  const names = new Set<string>();
  list.forEach((c: Obj, i) => {
    const f = `${field}[${i}]`;
    if (typeof c !== 'object' || c === null) {
      errs.push({ type: 'Invalid', field: f, value: c, detail: 'must be an object' });
      return;
    }
    if (!c.name) errs.push({ type: 'Required', field: `${f}.name` });
    else {
      const e = isDns1123Label(String(c.name));
      if (e) errs.push({ type: 'Invalid', field: `${f}.name`, value: c.name, detail: e });
      if (names.has(c.name)) errs.push({ type: 'Duplicate', field: `${f}.name`, value: c.name });
      names.add(c.name);
    }
    if (!c.image) errs.push({ type: 'Required', field: `${f}.image` });
    (Array.isArray(c.ports) ? c.ports : []).forEach((p: Obj, j: number) => {
      if (!validPort(p?.containerPort)) {
        errs.push({
          type: p?.containerPort === undefined ? 'Required' : 'Invalid',
          field: `${f}.ports[${j}].containerPort`,
          value: p?.containerPort,
          detail: p?.containerPort === undefined ? undefined : 'must be between 1 and 65535, inclusive',
        } as FieldError);
      }
      checkProtocol(p?.protocol, `${f}.ports[${j}].protocol`, errs);
    });
  });
}

export function validatePodSpec(spec: Obj | undefined, field: string, errs: FieldError[]): void {
  if (!spec || typeof spec !== 'object') {
    errs.push({ type: 'Required', field });
    return;
  }
  validateContainers(spec.containers, `${field}.containers`, errs, true);
  validateContainers(spec.initContainers, `${field}.initContainers`, errs, false);
  if (spec.restartPolicy !== undefined && !['Always', 'OnFailure', 'Never'].includes(spec.restartPolicy)) {
    errs.push({
      type: 'NotSupported',
      field: `${field}.restartPolicy`,
      value: spec.restartPolicy,
      detail: 'supported values: "Always", "Never", "OnFailure"',
    });
  }
  if (
    spec.terminationGracePeriodSeconds !== undefined &&
    !(Number.isInteger(spec.terminationGracePeriodSeconds) && spec.terminationGracePeriodSeconds >= 0)
  ) {
    errs.push({
      type: 'Invalid',
      field: `${field}.terminationGracePeriodSeconds`,
      value: spec.terminationGracePeriodSeconds,
      detail: 'must be greater than or equal to 0',
    });
  }
}

function validateService(o: Obj, errs: FieldError[]): void {
  const spec: Obj = o.spec ?? {};
  const types = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
  if (!types.includes(spec.type)) {
    errs.push({
      type: 'NotSupported',
      field: 'spec.type',
      value: spec.type,
      detail: 'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    });
    return;
  }
  if (spec.type === 'ExternalName') {
    if (!spec.externalName) errs.push({ type: 'Required', field: 'spec.externalName' });
    return;
  }
  const ports: Obj[] = Array.isArray(spec.ports) ? spec.ports : [];
  if (ports.length === 0 && spec.clusterIP !== 'None') errs.push({ type: 'Required', field: 'spec.ports' });
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const f = `spec.ports[${i}]`;
    if (ports.length > 1 && !p.name) errs.push({ type: 'Required', field: `${f}.name` });
    if (p.name) {
      if (names.has(p.name)) errs.push({ type: 'Duplicate', field: `${f}.name`, value: p.name });
      names.add(p.name);
    }
    if (!validPort(p.port))
      errs.push({ type: 'Invalid', field: `${f}.port`, value: p.port, detail: 'must be between 1 and 65535, inclusive' });
    checkProtocol(p.protocol, `${f}.protocol`, errs);
    const tp = p.targetPort;
    if (
      typeof tp === 'number' ? !validPort(tp) : typeof tp === 'string' ? !IANA_SVC_NAME.test(tp) || !/[a-z]/.test(tp) : tp !== undefined
    ) {
      errs.push({
        type: 'Invalid',
        field: `${f}.targetPort`,
        value: tp,
        detail:
          typeof tp === 'number'
            ? 'must be between 1 and 65535, inclusive'
            : 'must be an IANA_SVC_NAME (at most 15 characters, lower case alphanumerics and "-", with at least one letter)',
      });
    }
    if (p.nodePort !== undefined && spec.type === 'ClusterIP' && p.nodePort !== 0) {
      errs.push({ type: 'Forbidden', field: `${f}.nodePort`, detail: "may not be used when `type` is 'ClusterIP'" });
    }
  });
  validateLabels(spec.selector, 'spec.selector', errs);
}

function selectorMatches(sel: Obj, labels: Obj): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of (sel.matchExpressions ?? []) as Obj[]) {
    const has = Object.hasOwn(labels, e.key);
    const vals: string[] = e.values ?? [];
    if (e.operator === 'In' && !(has && vals.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && vals.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function validateWorkload(o: Obj, errs: FieldError[]): void {
  const spec: Obj = o.spec ?? {};
  if (spec.replicas !== undefined && !(Number.isInteger(spec.replicas) && spec.replicas >= 0)) {
    errs.push({ type: 'Invalid', field: 'spec.replicas', value: spec.replicas, detail: 'must be greater than or equal to 0' });
  }
  const sel = spec.selector;
  const labels: Obj = spec.template?.metadata?.labels ?? {};
  if (!sel || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0)) {
    errs.push({
      type: sel ? 'Invalid' : 'Required',
      field: 'spec.selector',
      value: sel,
      detail: sel ? 'empty selector is invalid for deployment' : undefined,
    } as FieldError);
  } else if (!selectorMatches(sel, labels)) {
    errs.push({
      type: 'Invalid',
      field: 'spec.template.metadata.labels',
      value: labels,
      detail: '`selector` does not match template `labels`',
    });
  }
  validateLabels(labels, 'spec.template.metadata.labels', errs);
  validatePodSpec(spec.template?.spec, 'spec.template.spec', errs);
}

/** Validates an object of `kind` after defaulting. Returns every error found, not just the first. */
export function validateObject(kind: string, o: Obj, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  validateMeta(kind, o.metadata ?? {}, namespaced, errs);
  switch (kind) {
    case 'Pod':
      validatePodSpec(o.spec, 'spec', errs);
      break;
    case 'Service':
      validateService(o, errs);
      break;
    case 'Deployment':
    case 'ReplicaSet':
      validateWorkload(o, errs);
      break;
    case 'EndpointSlice':
      if (!['IPv4', 'IPv6', 'FQDN'].includes(o.addressType)) {
        errs.push({
          type: o.addressType === undefined ? 'Required' : 'NotSupported',
          field: 'addressType',
          value: o.addressType,
          detail: o.addressType === undefined ? undefined : 'supported values: "FQDN", "IPv4", "IPv6"',
        } as FieldError);
      }
      (Array.isArray(o.ports) ? o.ports : []).forEach((p: Obj, i: number) => {
        if (p.port !== undefined && p.port !== null && !validPort(p.port))
          errs.push({ type: 'Invalid', field: `ports[${i}].port`, value: p.port, detail: 'must be between 1 and 65535, inclusive' });
      });
      break;
    case 'NetworkPolicy':
      if (!o.spec?.podSelector) errs.push({ type: 'Required', field: 'spec.podSelector' });
      break;
  }
  return errs;
}

function equalJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Fields an update may not change (the *ValidateUpdate functions). */
export function validateUpdate(kind: string, next: Obj, prev: Obj): FieldError[] {
  const errs: FieldError[] = [];
  if (kind === 'Service') {
    const a = prev.spec?.clusterIP;
    const b = next.spec?.clusterIP;
    if (a && b !== a && prev.spec?.type !== 'ExternalName' && next.spec?.type !== 'ExternalName') {
      errs.push({ type: 'Invalid', field: 'spec.clusterIPs[0]', value: b ?? '', detail: 'may not change once set' });
    }
  }
  if (kind === 'Pod') {
    // Pod updates may not change fields other than container images, activeDeadlineSeconds,
    // tolerations (additions) and terminationGracePeriodSeconds (pkg/apis/core/validation ValidatePodUpdate).
    const strip = (s: Obj | undefined) => {
      const c = structuredClone(s ?? {});
      for (const x of [...(c.containers ?? []), ...(c.initContainers ?? [])]) delete x.image;
      delete c.activeDeadlineSeconds;
      delete c.tolerations;
      delete c.terminationGracePeriodSeconds;
      // Binding sets nodeName once (pods/binding); allow unset → set.
      if (!prev.spec?.nodeName) delete c.nodeName;
      return c;
    };
    const a = strip(prev.spec);
    const b = strip(next.spec);
    if (!prev.spec?.nodeName) delete a.nodeName;
    if (!equalJson(a, b)) {
      errs.push({
        type: 'Forbidden',
        field: 'spec',
        detail:
          'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
      });
    }
  }
  if ((kind === 'Deployment' || kind === 'ReplicaSet') && !equalJson(prev.spec?.selector, next.spec?.selector)) {
    errs.push({ type: 'Invalid', field: 'spec.selector', value: next.spec?.selector, detail: 'field is immutable' });
  }
  if (kind === 'EndpointSlice' && prev.addressType !== next.addressType) {
    errs.push({ type: 'Invalid', field: 'addressType', value: next.addressType, detail: 'field is immutable' });
  }
  return errs;
}
