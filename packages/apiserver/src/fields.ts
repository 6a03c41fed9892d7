// Field validation (?fieldValidation=Strict|Warn|Ignore, KEP-2885): unknown fields at the top
// level and in metadata are errors under Strict (400 BadRequest "strict decoding error: unknown
// field ...") and `Warning: 299` headers under Warn. Deeper levels are not schema-checked: podnet
// carries no full OpenAPI schema (openapi.ts), so it cannot tell a typo there from a field it
// does not model, and it never rejects a valid manifest for a field it does not know.

const META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

const TOP_FIELDS: Record<string, string[]> = {
  Endpoints: ['subsets'],
  Event: [
    'involvedObject',
    'reason',
    'message',
    'source',
    'firstTimestamp',
    'lastTimestamp',
    'count',
    'type',
    'eventTime',
    'series',
    'action',
    'related',
    'reportingComponent',
    'reportingInstance',
  ],
  EndpointSlice: ['addressType', 'endpoints', 'ports'],
  NetworkPolicy: ['spec'],
  Lease: ['spec'],
};

export function unknownFields(kind: string, o: Record<string, unknown>): string[] {
  const allowed = new Set(['apiVersion', 'kind', 'metadata', ...(TOP_FIELDS[kind] ?? ['spec', 'status'])]);
  const out: string[] = [];
  for (const k of Object.keys(o)) if (!allowed.has(k)) out.push(k);
  const meta = o.metadata;
  if (typeof meta === 'object' && meta !== null) for (const k of Object.keys(meta)) if (!META_FIELDS.has(k)) out.push(`metadata.${k}`);
  return out;
}
