// Label and field selectors, as the apiserver parses them from ?labelSelector= and
// ?fieldSelector= (apimachinery pkg/labels/selector.go and pkg/fields/selector.go).
// Label syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a` (exists), `!a`.

export type LabelRequirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };

export class SelectorError extends Error {
  readonly code = 'PODNET_ERR_SELECTOR';
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

/** Splits on commas outside parentheses. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const KEY_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function checkKey(key: string, whole: string): string {
  if (!KEY_RE.test(key)) throw new SelectorError(`unable to parse requirement: invalid label key "${key}" in "${whole}"`);
  return key;
}

export function parseLabelSelector(text: string | undefined): LabelRequirement[] {
  if (!text) return [];
  const reqs: LabelRequirement[] = [];
  for (const part of splitTopLevel(text)) {
    const set = part.match(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/);
    const eq = set ? null : part.match(/^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/);
    const not = set || eq ? null : part.match(/^!\s*(\S+)$/);
    if (set) {
      const values = (set[3] ?? '')
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
      reqs.push({ key: checkKey(set[1] ?? '', text), op: set[2] as 'in' | 'notin', values });
    } else if (eq) {
      reqs.push({ key: checkKey(eq[1] ?? '', text), op: eq[2] === '!=' ? 'neq' : 'eq', value: eq[3] ?? '' });
    } else if (not) {
      reqs.push({ key: checkKey(not[1] ?? '', text), op: 'notexists' });
    } else if (/^\S+$/.test(part)) {
      reqs.push({ key: checkKey(part, text), op: 'exists' });
    } else {
      throw new SelectorError(`unable to parse requirement: "${part}" in label selector "${text}"`);
    }
  }
  return reqs;
}

export function matchesLabels(reqs: readonly LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const req of reqs) {
    const has = Object.hasOwn(l, req.key);
    const v = l[req.key];
    switch (req.op) {
      case 'eq':
        if (v !== req.value) return false;
        break;
      case 'neq':
        if (has && v === req.value) return false;
        break;
      case 'in':
        if (!has || !req.values.includes(v ?? '')) return false;
        break;
      case 'notin':
        if (has && req.values.includes(v ?? '')) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** metav1.LabelSelector (matchLabels + matchExpressions) → requirements. */
export function labelSelectorRequirements(sel: {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key, op: 'eq', value });
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator;
    if (op === 'In') reqs.push({ key: e.key, op: 'in', values: e.values ?? [] });
    else if (op === 'NotIn') reqs.push({ key: e.key, op: 'notin', values: e.values ?? [] });
    else if (op === 'Exists') reqs.push({ key: e.key, op: 'exists' });
    else if (op === 'DoesNotExist') reqs.push({ key: e.key, op: 'notexists' });
    else throw new SelectorError(`"${op}" is not a valid label selector operator (In, NotIn, Exists, DoesNotExist)`);
  }
  return reqs;
}

/** The `a=b,c=d` form kubectl prints for a selector (Scale.status.selector, SELECTOR column). */
export function formatLabelSelector(sel: {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}): string {
  const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    const vals = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${vals})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${vals})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

export interface FieldRequirement {
  field: string;
  op: 'eq' | 'neq';
  value: string;
}

export function parseFieldSelector(text: string | undefined): FieldRequirement[] {
  if (!text) return [];
  return splitTopLevel(text).map((part) => {
    const m = part.match(/^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new SelectorError(`invalid field selector "${part}": expected field=value or field!=value`);
    return { field: m[1] ?? '', op: m[2] === '!=' ? 'neq' : 'eq', value: (m[3] ?? '').trim() };
  });
}

/** Fields each kind can be selected by (the real apiserver's GetAttrs / field label conversions). */
export const SELECTABLE_FIELDS: Record<string, string[]> = {
  Pod: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  Event: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  Node: ['spec.unschedulable'],
  Namespace: ['status.phase'],
  Service: ['spec.clusterIP', 'spec.type'],
};

function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const seg of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

/** Throws a SelectorError naming the field when a kind cannot be selected by it. */
export function checkFieldSelector(kind: string, reqs: readonly FieldRequirement[]): void {
  const allowed = ['metadata.name', 'metadata.namespace', ...(SELECTABLE_FIELDS[kind] ?? [])];
  for (const r of reqs) {
    if (!allowed.includes(r.field)) {
      throw new SelectorError(`field label not supported: "${r.field}" for ${kind} (supported: ${allowed.join(', ')})`);
    }
  }
}

export function matchesFields(reqs: readonly FieldRequirement[], obj: Record<string, unknown>): boolean {
  for (const r of reqs) {
    let v = getPath(obj, r.field);
    if (r.field === 'source') v = getPath(obj, 'source.component');
    const s = v === undefined || v === null ? '' : String(v);
    if (r.op === 'eq' ? s !== r.value : s === r.value) return false;
  }
  return true;
}
