// Errors of the podnet client (DESIGN §6.10). The API server answers failures with a Kubernetes
// `Status` object (apimachinery pkg/apis/meta/v1 types.go, `StatusReason`); the client turns each
// into a typed error that keeps the server's reason, code, message and details, so callers can
// write `if (err instanceof NotFoundError)` instead of comparing numbers.

export const ClientErrorCodes = {
  /** The object does not exist (404 NotFound). */
  NOT_FOUND: 'PODNET_ERR_NOT_FOUND',
  /** A create for a name that exists (409 AlreadyExists). */
  ALREADY_EXISTS: 'PODNET_ERR_ALREADY_EXISTS',
  /** A write with a stale resourceVersion or a failed precondition (409 Conflict). */
  CONFLICT: 'PODNET_ERR_CONFLICT',
  /** The object failed validation (422 Invalid); `causes` names the fields. */
  INVALID: 'PODNET_ERR_INVALID',
  /** The requested resourceVersion was compacted away (410 Gone / Expired): relist. */
  GONE: 'PODNET_ERR_GONE',
  /** No or a wrong bearer token (401). */
  UNAUTHORIZED: 'PODNET_ERR_UNAUTHORIZED',
  /** The token may not do this (403). */
  FORBIDDEN: 'PODNET_ERR_FORBIDDEN',
  /** The server is rate limiting (429) and the retries ran out. */
  TOO_MANY_REQUESTS: 'PODNET_ERR_TOO_MANY_REQUESTS',
  /** Any other Status failure (400, 405, 413, 415, 5xx). */
  API: 'PODNET_ERR_API',
  /** The server could not be reached (refused, reset, TLS failure) and the retries ran out. */
  CONNECTION: 'PODNET_ERR_CONNECTION',
  /** A kubeconfig that cannot be read or lacks what the client needs. */
  KUBECONFIG: 'PODNET_ERR_KUBECONFIG',
  /** A resource the client does not know, or a call that cannot be made (bad arguments). */
  USAGE: 'PODNET_ERR_CLIENT_USAGE',
  /** A watch frame that is neither a valid JSON nor a valid protobuf watch event. */
  WATCH_DECODE: 'PODNET_ERR_WATCH_DECODE',
} as const;

export type ClientErrorCode = (typeof ClientErrorCodes)[keyof typeof ClientErrorCodes];

export class ClientError extends Error {
  readonly code: ClientErrorCode;
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}

/** The Kubernetes `Status` object (meta/v1), as the API server sends it on failure. */
export interface Status {
  kind?: 'Status';
  apiVersion?: string;
  metadata?: { resourceVersion?: string };
  status?: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: { type?: string; message?: string; field?: string }[];
    retryAfterSeconds?: number;
  };
  code?: number;
}

/** A failure the API server reported. `status` is the server's Status object, as received. */
export class ApiError extends ClientError {
  readonly httpStatus: number;
  readonly reason: string;
  readonly status: Status;
  /** What was asked: "GET /api/v1/namespaces/default/pods/x". */
  readonly request: string;
  constructor(code: ClientErrorCode, httpStatus: number, status: Status, request: string) {
    const reason = status.reason ?? 'Unknown';
    const message = status.message ?? `the server answered HTTP ${httpStatus}`;
    super(code, `${request}: ${reason} (${httpStatus}): ${message}`);
    this.name = 'ApiError';
    this.httpStatus = httpStatus;
    this.reason = reason;
    this.status = status;
    this.request = request;
  }
}

export class NotFoundError extends ApiError {
  override readonly name = 'NotFoundError';
}
export class AlreadyExistsError extends ApiError {
  override readonly name = 'AlreadyExistsError';
}
export class ConflictError extends ApiError {
  override readonly name = 'ConflictError';
}
export class InvalidError extends ApiError {
  override readonly name = 'InvalidError';
}
export class GoneError extends ApiError {
  override readonly name = 'GoneError';
}
export class UnauthorizedError extends ApiError {
  override readonly name = 'UnauthorizedError';
}
export class ForbiddenError extends ApiError {
  override readonly name = 'ForbiddenError';
}
export class TooManyRequestsError extends ApiError {
  override readonly name = 'TooManyRequestsError';
}

/**
 * The typed error for an HTTP failure. The reason decides where the server sent one (a 409 is
 * AlreadyExists or Conflict, told apart only by `reason`, as client-go's `errors.IsAlreadyExists`
 * does in apimachinery pkg/api/errors/errors.go); otherwise the HTTP code does.
 */
export function apiErrorFrom(httpStatus: number, body: unknown, request: string): ApiError {
  const status: Status = isStatus(body) ? body : { status: 'Failure', code: httpStatus, message: describeBody(body) };
  const code = status.code ?? httpStatus;
  switch (status.reason) {
    case 'NotFound':
      return new NotFoundError(ClientErrorCodes.NOT_FOUND, httpStatus, status, request);
    case 'AlreadyExists':
      return new AlreadyExistsError(ClientErrorCodes.ALREADY_EXISTS, httpStatus, status, request);
    case 'Conflict':
      return new ConflictError(ClientErrorCodes.CONFLICT, httpStatus, status, request);
    case 'Invalid':
      return new InvalidError(ClientErrorCodes.INVALID, httpStatus, status, request);
    case 'Expired':
    case 'Gone':
      return new GoneError(ClientErrorCodes.GONE, httpStatus, status, request);
    case 'Unauthorized':
      return new UnauthorizedError(ClientErrorCodes.UNAUTHORIZED, httpStatus, status, request);
    case 'Forbidden':
      return new ForbiddenError(ClientErrorCodes.FORBIDDEN, httpStatus, status, request);
    case 'TooManyRequests':
      return new TooManyRequestsError(ClientErrorCodes.TOO_MANY_REQUESTS, httpStatus, status, request);
  }
  switch (code) {
    case 404:
      return new NotFoundError(ClientErrorCodes.NOT_FOUND, httpStatus, status, request);
    case 409:
      return new ConflictError(ClientErrorCodes.CONFLICT, httpStatus, status, request);
    case 410:
      return new GoneError(ClientErrorCodes.GONE, httpStatus, status, request);
    case 422:
      return new InvalidError(ClientErrorCodes.INVALID, httpStatus, status, request);
    case 401:
      return new UnauthorizedError(ClientErrorCodes.UNAUTHORIZED, httpStatus, status, request);
    case 403:
      return new ForbiddenError(ClientErrorCodes.FORBIDDEN, httpStatus, status, request);
    case 429:
      return new TooManyRequestsError(ClientErrorCodes.TOO_MANY_REQUESTS, httpStatus, status, request);
  }
  return new ApiError(ClientErrorCodes.API, httpStatus, status, request);
}

export function isStatus(body: unknown): body is Status {
  return typeof body === 'object' && body !== null && (body as { kind?: unknown }).kind === 'Status';
}

function describeBody(body: unknown): string {
  if (typeof body === 'string') return body.length > 200 ? `${body.slice(0, 200)}…` : body || 'an empty body';
  return 'a body that is not a Status object';
}

export function isNotFound(err: unknown): err is NotFoundError {
  return err instanceof NotFoundError;
}
export function isConflict(err: unknown): err is ConflictError {
  return err instanceof ConflictError;
}
export function isAlreadyExists(err: unknown): err is AlreadyExistsError {
  return err instanceof AlreadyExistsError;
}
export function isGone(err: unknown): err is GoneError {
  return err instanceof GoneError;
}
