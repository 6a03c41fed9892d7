// Field validation (?fieldValidation=Strict|Warn|Ignore, KEP-2885): unknown fields at the top
// level and in metadata are errors under Strict (400 BadRequest "strict decoding error: unknown
// field ...") and `Warning: 299` headers under Warn. Deeper levels are not checked by the server:
// the full schema of every served type is known (@podnet/api api-types.ts, served as /openapi/v2
// and /openapi/v3, where kubectl validates a `kind: List` manifest against it client-side), but the
// real API server's nested check (Strict decoding into typed structs reports e.g. unknown field
// "spec.template.spec.containers[0].imag") is not implemented here, so a nested typo is accepted
// and kept as sent rather than rejected or dropped.

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
