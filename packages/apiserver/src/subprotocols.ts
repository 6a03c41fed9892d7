// The WebSocket subprotocols (RFC 6455 §1.9, Sec-WebSocket-Protocol) the API server accepts.
// A client offering only protocols we do not speak gets 400 naming them and what is spoken,
// instead of a connection in a framing it did not ask for.
//   watch: `podnet.watch.v1.protobuf` (proto/podnet-watch.proto, binary frames) or no protocol
//          at all (JSON text frames, as the real apiserver's watch.go HandleWS).
//   pods/exec, pods/attach: the remotecommand channel protocols of k8s.io/apimachinery
//          util/httpstream/wsstream (conn.go: channel.k8s.io, base64.channel.k8s.io) and
//          client-go's versions (v2–v4, v4.base64, v5 of KEP-4006): kubectl 1.32 offers
//          v5.channel.k8s.io then v4; client-node's Exec offers v4, v3, v2, channel.k8s.io.
// `base64url.bearer.authorization.k8s.io.<token>` only carries a token (browsers cannot set
// Authorization on a WebSocket) and is never selected.
import { WATCH_PROTOBUF_SUBPROTOCOL } from '@podnet/api';
import { badRequest } from './status.js';

export const BEARER_SUBPROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';

export const WATCH_SUBPROTOCOLS: readonly string[] = [WATCH_PROTOBUF_SUBPROTOCOL];

export const EXEC_SUBPROTOCOLS: readonly string[] = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
];

/** The offered protocols other than the bearer-token carrier, in the client's order. */
export function offeredSubprotocols(header: string | string[] | undefined): string[] {
  const raw = Array.isArray(header) ? header.join(',') : (header ?? '');
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.startsWith(BEARER_SUBPROTOCOL_PREFIX));
}

/**
 * Throws 400 BadRequest unless the offer is acceptable: a watch may offer nothing (JSON) or must
 * include the protobuf protocol; exec must include at least one channel protocol.
 */
export function checkSubprotocols(header: string | string[] | undefined, exec: boolean): void {
  const offered = offeredSubprotocols(header);
  const known = exec ? EXEC_SUBPROTOCOLS : WATCH_SUBPROTOCOLS;
  if (offered.some((p) => known.includes(p))) return;
  if (!exec && offered.length === 0) return;
  const what = exec
    ? `pods/exec needs one of the channel subprotocols ${known.join(', ')}`
    : `a watch accepts the subprotocol ${WATCH_PROTOBUF_SUBPROTOCOL} (protobuf binary frames) or none (JSON text frames)`;
  const got = offered.length === 0 ? 'no subprotocol' : `the unsupported subprotocol(s) ${offered.join(', ')}`;
  throw badRequest(`Sec-WebSocket-Protocol: the client offered ${got}; ${what}`);
}
