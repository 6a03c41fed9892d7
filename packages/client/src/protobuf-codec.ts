// The protobuf watch codec: binary frames carrying podnet.watch.v1.WatchEvent
// (proto/podnet-watch.proto, decoded by @podnet/api). The messages are a projection of the
// Kubernetes objects (the fields podnet's components read), so a consumer that writes an object
// back must re-read it with GET (full JSON) or send a patch, never PUT the projected copy.
import { decodeWatchEvent, WATCH_PROTOBUF_SUBPROTOCOL } from '@podnet/api';
import { ClientError, ClientErrorCodes } from './errors.js';
import { checkEvent, jsonWatchCodec, type WatchCodec, type WatchEvent } from './watch.js';

export const protobufWatchCodec: WatchCodec = {
  subprotocol: WATCH_PROTOBUF_SUBPROTOCOL,
  decode(data: Buffer, isBinary: boolean): WatchEvent {
    // A text frame on a protobuf watch is still a JSON event (servers may send ERROR as JSON).
    if (!isBinary) return jsonWatchCodec.decode(data, false);
    let ev: ReturnType<typeof decodeWatchEvent>;
    try {
      ev = decodeWatchEvent(data);
    } catch (err) {
      throw new ClientError(ClientErrorCodes.WATCH_DECODE, `watch frame is not a podnet.watch.v1.WatchEvent: ${(err as Error).message}`);
    }
    const object = ev.object as { metadata?: { resourceVersion?: string } };
    // The event carries the version beside the object; make sure the object has it too.
    if (ev.resourceVersion && object.metadata?.resourceVersion === undefined) {
      object.metadata = { ...(object.metadata ?? {}), resourceVersion: ev.resourceVersion };
    }
    return checkEvent({ type: ev.type, object });
  },
};
