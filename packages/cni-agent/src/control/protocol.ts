// The node control protocol (proto/podnet-node.proto): protobuf Request/Response messages, each
// framed by a 4-byte big-endian length on a unix stream socket. This module owns the schema
// loading, the TypeScript shapes of the messages and the framing; client.ts and server.ts use it.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { CniAgentError, CniAgentErrorCodes } from '../errors.js';

const PROTO_URL = new URL('../../../../proto/podnet-node.proto', import.meta.url);

/** Frames above this are refused (a corrupt length prefix must not make us buffer gigabytes). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const LENGTH_PREFIX = 4;

const root = protobuf.parse(readFileSync(PROTO_URL, 'utf8'), { keepCase: true }).root;
const RequestType = root.lookupType('podnet.node.v1.Request');
const ResponseType = root.lookupType('podnet.node.v1.Response');

export interface CniRequestBody {
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  config?: string;
}
export interface CniErrorBody {
  code: number;
  msg: string;
  details?: string;
}
export interface CniResponseBody {
  result?: string;
  cniError?: CniErrorBody;
}
export interface AttachRequestBody {
  containerId: string;
  ifname?: string;
}
export interface AttachResponseBody {
  socketPath: string;
  hostIfname: string;
  containerMac: string;
  mtu: number;
  connected?: boolean;
}
export interface IptablesRestoreRequestBody {
  payload: string;
  noflush?: boolean;
  test?: boolean;
  counters?: boolean;
}
export interface IptablesRestoreResponseBody {
  tables?: string[];
  rules?: number;
}
export interface IptablesSaveRequestBody {
  table?: string;
  counters?: boolean;
}
export interface IptablesSaveResponseBody {
  text: string;
}
export interface ExecRequestBody {
  argv: string[];
  stdin?: string;
}
export interface ExecResponseBody {
  stdout: string;
  stderr: string;
  exitCode: number;
}
export interface ConntrackFilterBody {
  protocol?: string;
  origSrc?: string;
  origDst?: string;
  replySrc?: string;
  replyDst?: string;
  sport?: number;
  dport?: number;
  dstNat?: string;
}
export interface ConntrackListResponseBody {
  text: string;
  count: number;
}
export interface ConntrackDeleteResponseBody {
  deleted: number;
}
export interface TraceStartRequestBody {
  protocol?: string;
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
  maxPackets?: number;
  durationMs?: number;
}
export interface TraceEventBody {
  hook: string;
  table: string;
  chain: string;
  kind: string;
  ruleNumber: number;
  rule?: string;
  target: string;
  inInterface?: string;
  outInterface?: string;
  src: string;
  dst: string;
  protocol: string;
  srcPort?: number;
  dstPort?: number;
  mark: number;
  line: string;
}
export interface TraceResultsResponseBody {
  events: TraceEventBody[];
  packets: number;
  active: boolean;
}
export interface CaptureStartRequestBody {
  iface: string;
  path: string;
  underlay?: boolean;
  durationMs?: number;
}
export interface CaptureStopResponseBody {
  packets: number;
  bytes: number;
  path: string;
}
export interface StatusResponseBody {
  node: string;
  backend: string;
  podCidr: string;
  nodeIp: string;
  transportAddress: string;
  vtepMac: string;
  pods: number;
  peers: string[];
  nodePorts: number;
  ready: boolean;
  uptimeSeconds: number;
  pid: number;
  mtu: number;
  nextReconcileMs: number;
}

/** Request bodies by oneof name, and the response body each one gets. */
export interface Methods {
  cni: [CniRequestBody, CniResponseBody];
  attach: [AttachRequestBody, AttachResponseBody];
  iptablesRestore: [IptablesRestoreRequestBody, IptablesRestoreResponseBody];
  iptablesSave: [IptablesSaveRequestBody, IptablesSaveResponseBody];
  exec: [ExecRequestBody, ExecResponseBody];
  conntrackList: [{ filter?: ConntrackFilterBody }, ConntrackListResponseBody];
  conntrackDelete: [{ filter?: ConntrackFilterBody }, ConntrackDeleteResponseBody];
  traceStart: [TraceStartRequestBody, { traceId: string }];
  traceResults: [{ traceId: string; stop?: boolean }, TraceResultsResponseBody];
  captureStart: [CaptureStartRequestBody, { captureId: string }];
  captureStop: [{ captureId: string }, CaptureStopResponseBody];
  status: [Record<string, never>, StatusResponseBody];
}
export type Method = keyof Methods;
export const METHODS: readonly Method[] = [
  'cni',
  'attach',
  'iptablesRestore',
  'iptablesSave',
  'exec',
  'conntrackList',
  'conntrackDelete',
  'traceStart',
  'traceResults',
  'captureStart',
  'captureStop',
  'status',
];

export interface ErrorBody {
  code: string;
  message: string;
  line?: number;
  word?: string;
}

export interface DecodedRequest {
  id: number;
  method: Method;
  body: Methods[Method][0];
}
export interface DecodedResponse {
  id: number;
  error?: ErrorBody;
  method?: Method;
  body?: Methods[Method][1];
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, defaults: true, arrays: true, oneofs: false };

function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_PREFIX + bytes.length);
  out.writeUInt32BE(bytes.length, 0);
  out.set(bytes, LENGTH_PREFIX);
  return out;
}

export function encodeRequest<M extends Method>(id: number, method: M, body: Methods[M][0]): Buffer {
  const message = RequestType.fromObject({ id, [method]: body });
  return frame(RequestType.encode(message).finish());
}

export function encodeResponse(response: DecodedResponse): Buffer {
  const obj: Record<string, unknown> = { id: response.id };
  if (response.error) obj.error = response.error;
  if (response.method && response.body) obj[response.method] = response.body;
  return frame(ResponseType.encode(ResponseType.fromObject(obj)).finish());
}

/** Optional scalars absent on the wire come back as undefined (proto3 `optional`), not as 0. */
function presentOnly(type: protobuf.Type, message: protobuf.Message, object: Record<string, unknown>): void {
  for (const field of type.fieldsArray) {
    const value = (message as unknown as Record<string, unknown>)[field.name];
    if (field.options?.proto3_optional && (value === undefined || value === null)) delete object[field.name];
  }
}

function decodeBody(type: protobuf.Type, key: string, message: protobuf.Message): unknown {
  const sub = (message as unknown as Record<string, protobuf.Message>)[key] as protobuf.Message;
  const subType = type.fields[key]?.resolvedType as protobuf.Type;
  const object = subType.toObject(sub, TO_OBJECT) as Record<string, unknown>;
  presentOnly(subType, sub, object);
  for (const field of subType.fieldsArray) {
    if (field.resolvedType instanceof protobuf.Type && object[field.name] !== undefined) {
      const inner = (sub as unknown as Record<string, protobuf.Message | null>)[field.name];
      if (inner === null || inner === undefined) delete object[field.name];
      else presentOnly(field.resolvedType, inner, object[field.name] as Record<string, unknown>);
    }
  }
  return object;
}

export function decodeRequest(bytes: Buffer): DecodedRequest {
  let message: protobuf.Message;
  try {
    message = RequestType.decode(bytes);
  } catch (error) {
    throw new CniAgentError(
      CniAgentErrorCodes.CONTROL,
      `control socket: a request does not decode as podnet.node.v1.Request: ${(error as Error).message}`,
    );
  }
  const m = message as unknown as { id: number; body?: string };
  if (!m.body) throw new CniAgentError(CniAgentErrorCodes.CONTROL, `control socket: request ${m.id} names no operation`);
  return { id: m.id, method: m.body as Method, body: decodeBody(RequestType, m.body, message) as Methods[Method][0] };
}

export function decodeResponse(bytes: Buffer): DecodedResponse {
  const message = ResponseType.decode(bytes);
  const m = message as unknown as { id: number; body?: string; error?: protobuf.Message | null };
  const out: DecodedResponse = { id: m.id };
  if (m.error) {
    out.error = decodeBody(ResponseType, 'error', message) as ErrorBody;
  }
  if (m.body) {
    out.method = m.body as Method;
    out.body = decodeBody(ResponseType, m.body, message) as Methods[Method][1];
  }
  return out;
}

/** Splits a byte stream into frames; throws on an oversized frame. */
export class FrameReader {
  #pending: Buffer | undefined;

  push(chunk: Buffer): Buffer[] {
    let buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    const frames: Buffer[] = [];
    let at = 0;
    while (buf.length - at >= LENGTH_PREFIX) {
      const length = buf.readUInt32BE(at);
      if (length > MAX_FRAME_BYTES) {
        throw new CniAgentError(
          CniAgentErrorCodes.CONTROL,
          `control socket: a frame of ${length} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`,
        );
      }
      if (buf.length - at - LENGTH_PREFIX < length) break;
      frames.push(buf.subarray(at + LENGTH_PREFIX, at + LENGTH_PREFIX + length));
      at += LENGTH_PREFIX + length;
    }
    buf = buf.subarray(at);
    this.#pending = buf.length > 0 ? Buffer.from(buf) : undefined;
    return frames;
  }
}
