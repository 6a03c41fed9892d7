// Kubernetes `Status` failures (apimachinery pkg/api/errors/errors.go): the HTTP code, the
// machine-readable reason kubectl prints in "Error from server (Reason): message", and details.
import { CAUSE_REASON, type FieldError, formatFieldError } from '@podnet/api';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { reason: string; message: string; field?: string }[];
  retryAfterSeconds?: number;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** "pods" or "deployments.apps": the qualified resource the real server names in messages. */
export function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const notFound = (resource: string, group: string, name: string) =>
  new ApiError(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, { name, group: group || undefined, kind: resource });

export const alreadyExists = (resource: string, group: string, name: string) =>
  new ApiError(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, {
    name,
    group: group || undefined,
    kind: resource,
  });

export const conflict = (resource: string, group: string, name: string, why: string) =>
  new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`, {
    name,
    group: group || undefined,
    kind: resource,
  });

export const badRequest = (message: string) => new ApiError(400, 'BadRequest', message);

export const methodNotAllowed = (message: string) => new ApiError(405, 'MethodNotAllowed', message);

export const gone = (message: string) => new ApiError(410, 'Expired', message);

/** 422 Invalid: `Kind.group "name" is invalid: [cause, cause]` (errors.NewInvalid). */
export function invalid(kind: string, group: string, name: string, errs: FieldError[]): ApiError {
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  const msgs = errs.map(formatFieldError);
  const joined = msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${joined}`, {
    name,
    group: group || undefined,
    kind,
    causes: errs.map((e, i) => ({ reason: CAUSE_REASON[e.type], message: msgs[i]?.slice(e.field.length + 2) ?? '', field: e.field })),
  });
}
