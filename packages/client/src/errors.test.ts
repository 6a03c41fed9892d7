import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, ApiError, apiErrorFrom, ConflictError, GoneError, InvalidError, NotFoundError } from './errors.js';

const status = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code,
  reason,
  message,
});

describe('apiErrorFrom', () => {
  it('maps the Status reason to a typed error with the server message', () => {
    const e = apiErrorFrom(404, status(404, 'NotFound', 'pods "nope" not found'), 'GET /api/v1/namespaces/default/pods/nope');
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e.code).toBe('PODNET_ERR_NOT_FOUND');
    expect(e.message).toContain('pods "nope" not found');
    expect(e.message).toContain('GET /api/v1/namespaces/default/pods/nope');
  });
  it('tells AlreadyExists from Conflict by reason (both are 409)', () => {
    expect(apiErrorFrom(409, status(409, 'AlreadyExists', 'x'), 'POST /x')).toBeInstanceOf(AlreadyExistsError);
    expect(apiErrorFrom(409, status(409, 'Conflict', 'x'), 'PUT /x')).toBeInstanceOf(ConflictError);
  });
  it('maps Expired and Invalid', () => {
    expect(apiErrorFrom(410, status(410, 'Expired', 'too old resource version: 1 (5)'), 'WATCH /x')).toBeInstanceOf(GoneError);
    const inv = apiErrorFrom(422, { ...status(422, 'Invalid', 'bad'), details: { causes: [{ field: 'metadata.name' }] } }, 'POST /x');
    expect(inv).toBeInstanceOf(InvalidError);
    expect(inv.status.details?.causes?.[0]?.field).toBe('metadata.name');
  });
  it('falls back to the HTTP code for a body that is not a Status', () => {
    const e = apiErrorFrom(404, 'page not found', 'GET /nope');
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e.message).toContain('page not found');
    const other = apiErrorFrom(503, undefined, 'GET /x');
    expect(other).toBeInstanceOf(ApiError);
    expect(other.code).toBe('PODNET_ERR_API');
  });
});
