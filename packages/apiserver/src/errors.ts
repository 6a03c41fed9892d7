// podnet apiserver error codes (DESIGN §6.10: PODNET_ERR_* catalogue, kept in this package).
export const ApiServerErrorCodes = {
  /** A write-ahead log segment is corrupt before its last record (not a torn tail). */
  WAL_CORRUPT: 'PODNET_ERR_WAL_CORRUPT',
  /** A write-ahead log write or fdatasync failed: the writer refuses further appends until a restart. */
  WAL_WRITE: 'PODNET_ERR_WAL_WRITE',
  /** A snapshot file cannot be read. */
  SNAPSHOT: 'PODNET_ERR_SNAPSHOT',
  /** A bad command-line flag or option. */
  USAGE: 'PODNET_ERR_USAGE',
  /** The credentials in the data directory are missing or unreadable. */
  CREDENTIALS: 'PODNET_ERR_CREDENTIALS',
} as const;

export class ApiServerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = 'ApiServerError';
    this.code = code;
  }
}
