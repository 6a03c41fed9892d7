import { encodeWatchEvent } from '@podnet/api';
import { describe, expect, it } from 'vitest';
import { protobufWatchCodec } from './protobuf-codec.js';

describe('protobufWatchCodec', () => {
  it('decodes a binary WatchEvent into the JSON event it stands for', () => {
    const pod = {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: 'web-1', namespace: 'default', resourceVersion: '42', labels: { app: 'web' } },
      spec: { nodeName: 'node-1', containers: [{ name: 'web', image: 'echo', ports: [{ name: 'http', containerPort: 8080 }] }] },
      status: { podIP: '10.244.1.5', conditions: [{ type: 'Ready', status: 'True' }] },
    };
    const bytes = Buffer.from(encodeWatchEvent({ type: 'MODIFIED', object: pod }));
    const ev = protobufWatchCodec.decode(bytes, true);
    expect(ev.type).toBe('MODIFIED');
    expect(ev.object).toMatchObject(pod);
  });
  it('reads JSON text frames on the same watch and refuses garbage with a typed error', () => {
    const ev = protobufWatchCodec.decode(Buffer.from('{"type":"ERROR","object":{"kind":"Status","code":410}}\n'), false);
    expect(ev.type).toBe('ERROR');
    expect(() => protobufWatchCodec.decode(Buffer.from([0xff, 0xff, 0xff]), true)).toThrow(
      /PODNET_ERR_WATCH_DECODE|not a podnet.watch.v1.WatchEvent/,
    );
  });
});
