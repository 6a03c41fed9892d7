// startApiServer: the HTTPS server (fastify), routing the Kubernetes REST paths to the registry,
// watches to the hub over chunked HTTP or WebSocket, discovery, OpenAPI, metrics, and the
// pods/log and pods/exec proxy to the node-agent (https://<transport-address>:10250).
import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { patchTypeOf, type ResourceInfo, resourceKey, WATCH_PROTOBUF_SUBPROTOCOL } from '@podnet/api';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { ClusterIpAllocator, NodePortAllocator, ServiceAllocators } from './allocators.js';
import { Authenticator, authorize, type Identity, identityOf, impersonate, PUBLIC_PATHS, RateLimiter } from './auth.js';
import { kubeconfigYaml, loadOrCreateCredentials } from './certs.js';
import {
  AGGREGATED_CONTENT_TYPE,
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  VERSION_INFO,
  wantsAggregated,
} from './discovery.js';
import { duplicateFieldsOfBody } from './fields.js';
import { decodeBody, matchResourcePath, queryBool, queryInt, type ResourcePath } from './http-util.js';
import { KUBELET_CERT_PATH, KUBELET_CERT_USERS, noCaKey, parseKubeletCertRequest, signKubeletServingCert } from './kubelet-certs.js';
import { ApiMetrics } from './metrics.js';
import { serveOpenapiV2, serveOpenapiV3GroupVersion, serveOpenapiV3Root } from './openapi-http.js';
import { toTable, wantsTable } from './printers.js';
import { Registry } from './registry.js';
import { reviewRoute } from './review-routes.js';
import { ApiError, badRequest, methodNotAllowed, notFound } from './status.js';
import { Store } from './store/store.js';
import { checkSubprotocols } from './subprotocols.js';
import { type EncodedCache, WatchHub, type WatchParams, type WatchSink, type WireType } from './watch.js';

export interface ApiServerOptions {
  dataDir: string;
  /** 0 picks a free port. Default 6443. */
  port?: number;
  host?: string;
  /**
   * Serving credentials; by default created in dataDir/pki on first start. `caKeyPem` lets the
   * server sign kubelet serving certificates; `kubeletClient` is what it presents to kubelets.
   */
  tls?: { certPem: string; keyPem: string; caPem: string; caKeyPem?: string; kubeletClient?: { certPem: string; keyPem: string } };
  /** user → token; by default created with the credentials. */
  tokens?: Record<string, string>;
  /** Extra subject alternative names for the serving certificate (first start only). */
  extraSans?: string[];
  bodyLimitBytes?: number;
  rateLimit?: { perSecond: number; burst: number };
  watchCacheSize?: number;
  snapshotEvery?: number;
  fsync?: boolean;
  bookmarkIntervalMs?: number;
  heartbeatIntervalMs?: number;
  serviceCidr?: string;
  nodePortRange?: [number, number];
  logger?: Logger;
  logLevel?: string;
  /** Port of the node-agent's server (kubelet port). */
  kubeletPort?: number;
  /**
   * How long dialing a kubelet (TCP + TLS, and for logs until its response headers) may take
   * before pods/log or pods/exec answers 502 (default 10 s). Once the kubelet answers, a
   * follow or exec stream has no idle timeout: `kubectl logs -f` may stay silent for hours.
   */
  kubeletDialTimeoutMs?: number;
}

export interface ApiServer {
  url: string;
  port: number;
  caPem: string;
  adminToken: string;
  tokens: Record<string, string>;
  kubeconfigPath: string;
  store: Store;
  close(): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
type Obj = Record<string, any>;

const JSON_CT = 'application/json';

function verbOf(method: string, path: ResourcePath, watch: boolean): string {
  if (watch) return 'watch';
  switch (method) {
    case 'GET':
      return path.name ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return path.name ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

function listKindApiVersion(info: ResourceInfo): string {
  return info.group ? `${info.group}/${info.version}` : info.version;
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const log = (opts.logger ?? pino({ level: opts.logLevel ?? 'info' }, pino.destination(2))).child({ component: 'apiserver' });
  const creds =
    opts.tls && opts.tokens ? { ...opts.tls, tokens: opts.tokens } : await loadOrCreateCredentials(opts.dataDir, opts.extraSans);
  const tokens = opts.tokens ?? creds.tokens;
  const metrics = new ApiMetrics();
  const store = await Store.open({
    dataDir: join(opts.dataDir, 'store'),
    watchCacheSize: opts.watchCacheSize,
    snapshotEvery: opts.snapshotEvery,
    fsync: opts.fsync,
    onSync: (s, n) => {
      metrics.walSync.observe(s);
      metrics.walBatch.observe(n);
    },
    onSnapshot: (s, bytes) => {
      metrics.snapshotDuration.observe(s);
      metrics.snapshotBytes.set(bytes);
      log.info({ seconds: s, bytes }, 'snapshot written');
    },
  });
  if (store.truncatedBytes > 0) log.warn({ bytes: store.truncatedBytes }, 'truncated a torn record at the end of the write-ahead log');
  metrics.attach(store);
  const allocators = new ServiceAllocators(
    new ClusterIpAllocator(opts.serviceCidr),
    new NodePortAllocator(...(opts.nodePortRange ?? [30000, 32767])),
  );
  allocators.rebuild(store.list('core/services'));
  const registry = new Registry(store, allocators);
  const hub = new WatchHub(
    store,
    opts.bookmarkIntervalMs ?? 10_000,
    (resource, n) => metrics.watchers.set({ resource }, n),
    (err) => log.warn({ err }, 'a watch failed to send an event and was closed'),
  );
  store.subscribe((ev) => {
    if (ev.type === 'DELETED' || ev.object.metadata?.deletionTimestamp)
      setImmediate(() => void registry.finalizePending().catch((e) => log.error({ err: e }, 'finalizing deletions failed')));
  });
  const auth = new Authenticator(tokens);
  const limiter = new RateLimiter(opts.rateLimit?.perSecond ?? 1000, opts.rateLimit?.burst ?? 2000);
  const heartbeatMs = opts.heartbeatIntervalMs ?? 15_000;
  const kubeletPort = opts.kubeletPort ?? 10250;
  const kubeletDialMs = opts.kubeletDialTimeoutMs ?? 10_000;
  // As the real apiserver with --kubelet-certificate-authority and --kubelet-client-certificate:
  // the kubelet's serving certificate must chain to the cluster CA and name the address dialled
  // (node-agents get theirs from KUBELET_CERT_PATH), and we authenticate with our client cert.
  const kubeletTls = {
    ca: creds.caPem,
    rejectUnauthorized: true,
    ...(creds.kubeletClient ? { cert: creds.kubeletClient.certPem, key: creds.kubeletClient.keyPem } : {}),
  };

  const app = Fastify({
    https: { key: creds.keyPem, cert: creds.certPem },
    bodyLimit: opts.bodyLimitBytes ?? 3 * 1024 * 1024,
    forceCloseConnections: true,
    return503OnClosing: false,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const sendStatus = (reply: FastifyReply, e: ApiError) => {
    if (e.code === 429) reply.header('Retry-After', '1');
    return reply.code(e.code).type(JSON_CT).send(JSON.stringify(e.toStatus()));
  };

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof ApiError) return sendStatus(reply, err);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) {
      return sendStatus(
        reply,
        new ApiError(
          413,
          'RequestEntityTooLarge',
          `the request body is larger than the limit of ${opts.bodyLimitBytes ?? 3 * 1024 * 1024} bytes`,
        ),
      );
    }
    if (err.statusCode && err.statusCode < 500) return sendStatus(reply, badRequest(err.message));
    log.error({ err, url: req.url }, 'internal error');
    return sendStatus(reply, new ApiError(500, 'InternalError', `Internal error occurred: ${err.message}`));
  });

  app.addHook('onResponse', async (req, reply) => {
    const ctx = (req as FastifyRequest & { podnet?: { verb: string; resource: string; started: bigint } }).podnet;
    if (!ctx) return;
    metrics.requests.inc({ verb: ctx.verb, resource: ctx.resource, code: String(reply.statusCode) });
    const seconds = Number(process.hrtime.bigint() - ctx.started) / 1e9;
    if (ctx.verb !== 'watch') metrics.duration.observe({ verb: ctx.verb, resource: ctx.resource }, seconds);
    // One line per request at debug level (the real apiserver's httplog at -v=3).
    if (log.isLevelEnabled('debug'))
      log.debug(
        { verb: ctx.verb, resource: ctx.resource, url: req.url, code: reply.statusCode, ms: Math.round(seconds * 1000) },
        'request',
      );
  });

  /** Who the request runs as: its token's user, or whom that user may impersonate (kubectl --as). */
  const callerOf = (req: FastifyRequest): Identity => {
    const user = auth.authenticate(req.headers.authorization);
    limiter.take(user);
    return impersonate(identityOf(user), req.raw.headersDistinct);
  };
  const userOf = (req: FastifyRequest): string => callerOf(req).user;

  const respond = (reply: FastifyReply, code: number, body: unknown, warnings: string[] = []) => {
    // One Warning header per warning, as the real server's warning recorder adds them (RFC 7234 §5.5).
    if (warnings.length > 0)
      reply.header(
        'Warning',
        warnings.map((w) => `299 - ${JSON.stringify(w)}`),
      );
    return reply.code(code).type(JSON_CT).send(JSON.stringify(body));
  };

  // ---- non-resource paths ---------------------------------------------------------------
  const nonResource = (req: FastifyRequest, reply: FastifyReply, path: string, segs: string[]): boolean | Promise<unknown> => {
    if (path === '/version') return Boolean(respond(reply, 200, VERSION_INFO));
    if (
      path === '/healthz' ||
      path === '/livez' ||
      path === '/readyz' ||
      path.startsWith('/readyz/') ||
      path.startsWith('/livez/') ||
      path.startsWith('/healthz/')
    ) {
      reply.code(200).type('text/plain').send('ok');
      return true;
    }
    userOf(req);
    const accept = req.headers.accept;
    if (path === '/metrics') {
      return metrics.registry.metrics().then((text) => reply.code(200).type(metrics.registry.contentType).send(text));
    }
    if (path === '/api') {
      if (wantsAggregated(accept))
        return Boolean(
          reply
            .code(200)
            .type(AGGREGATED_CONTENT_TYPE)
            .send(JSON.stringify(aggregatedDiscovery(true))),
        );
      return Boolean(respond(reply, 200, apiVersions()));
    }
    if (path === '/apis') {
      if (wantsAggregated(accept))
        return Boolean(
          reply
            .code(200)
            .type(AGGREGATED_CONTENT_TYPE)
            .send(JSON.stringify(aggregatedDiscovery(false))),
        );
      return Boolean(respond(reply, 200, apiGroupList()));
    }
    if (segs[0] === 'api' && segs.length === 2) {
      const l = apiResourceList('', segs[1] as string);
      if (!l) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return Boolean(respond(reply, 200, l));
    }
    if (segs[0] === 'apis' && segs.length === 2) {
      const g = apiGroup(segs[1] as string);
      if (!g) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return Boolean(respond(reply, 200, g));
    }
    if (segs[0] === 'apis' && segs.length === 3) {
      const l = apiResourceList(segs[1] as string, segs[2] as string);
      if (!l) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return Boolean(respond(reply, 200, l));
    }
    if (path === KUBELET_CERT_PATH) return issueKubeletCert(req, reply);
    if (path === '/openapi/v2') return Boolean(serveOpenapiV2(req, reply));
    if (path === '/openapi/v3') return Boolean(serveOpenapiV3Root(req, reply));
    if (path.startsWith('/openapi/v3/')) {
      const hash = new URL(req.url, 'https://x').searchParams.get('hash') ?? undefined;
      return Boolean(serveOpenapiV3GroupVersion(req, reply, path.slice('/openapi/v3/'.length), hash));
    }
    return false;
  };

  // ---- resources ------------------------------------------------------------------------
  const handle = async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const url = new URL(req.url, 'https://x');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const segs = path
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent);
    const q = Object.fromEntries(url.searchParams) as Record<string, string>;
    const review = reviewRoute(segs);
    if (review) {
      // TokenReview / SubjectAccessReview: answered, never stored (review-routes.ts).
      (req as FastifyRequest & { podnet?: unknown }).podnet = {
        verb: 'create',
        resource: review.info.resource,
        started: process.hrtime.bigint(),
      };
      const who = callerOf(req);
      const body = () => decodeBody(req.body as Buffer | undefined, req.headers['content-type'], `${req.method} ${path}`);
      return respond(reply, 201, review.handler({ user: who.user, groups: who.groups, method: req.method, body, auth }));
    }
    if (
      PUBLIC_PATHS.has(path) ||
      !segs.length ||
      ['api', 'apis', 'openapi', 'metrics', 'healthz', 'livez', 'readyz', 'podnet'].includes(segs[0] as string)
    ) {
      const m = matchResourcePath(segs);
      if (m.kind === 'none') {
        const r = nonResource(req, reply, path, segs);
        if (r !== false) return r;
        throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      }
    }
    const m = matchResourcePath(segs);
    if (m.kind !== 'resource') {
      userOf(req); // 401 before 404: an unauthenticated client learns nothing about paths
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    const p = m.path;
    const { info } = p;
    const watch = req.method === 'GET' && queryBool(q.watch) && q.watch !== undefined;
    const verb = verbOf(req.method, p, watch);
    (req as FastifyRequest & { podnet?: unknown }).podnet = { verb, resource: info.resource, started: process.hrtime.bigint() };
    authorize(callerOf(req), verb, info.resource, info.group, p.namespace, p.name);
    if (p.subresource && !info.subresources[p.subresource])
      throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${info.resource}/${p.subresource})`);
    if (info.namespaced && p.name && p.namespace === undefined)
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const ns = info.namespaced ? p.namespace : '';
    const accept = req.headers.accept;
    const table = wantsTable(accept);
    const write = {
      fieldValidation: q.fieldValidation,
      dryRun: q.dryRun === 'All',
      duplicateFields: () => duplicateFieldsOfBody(req.body as Buffer | undefined, req.headers['content-type']),
    };
    const body = () => decodeBody(req.body as Buffer | undefined, req.headers['content-type'], `${req.method} ${path}`);
    const includeObject = (q.includeObject as 'None' | 'Metadata' | 'Object' | undefined) ?? 'Metadata';

    if (watch) return serveWatchHttp(req, reply, p, q, table, includeObject);

    if (p.subresource === 'log' || p.subresource === 'exec') {
      if (req.method !== 'GET' && req.method !== 'POST') throw methodNotAllowed(`pods/${p.subresource} accepts GET (and POST for exec)`);
      return proxyToNode(req, reply, p, url);
    }
    if (p.subresource === 'status' && (req.method === 'POST' || req.method === 'DELETE')) {
      throw methodNotAllowed(`${req.method} is not supported on ${info.resource}/status; use GET, PUT or PATCH`);
    }
    if (p.subresource === 'binding' || p.subresource === 'eviction') {
      if (req.method !== 'POST') throw methodNotAllowed(`pods/${p.subresource} accepts only POST (create)`);
      const done =
        p.subresource === 'binding'
          ? await registry.bind(info, ns ?? '', p.name as string, body())
          : await registry.evict(info, ns ?? '', p.name as string, body());
      return respond(reply, 201, done);
    }
    if (p.subresource === 'scale') {
      const o = registry.get(info, ns ?? '', p.name as string);
      if (req.method === 'GET') return respond(reply, 200, registry.toScale(o));
      if (req.method === 'PUT') return respond(reply, 200, await registry.updateScale(info, ns ?? '', p.name as string, body()));
      if (req.method === 'PATCH') {
        const pt = patchTypeOf(req.headers['content-type']);
        if (!pt)
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            `the body of a PATCH must be a patch type, not "${req.headers['content-type'] ?? ''}"`,
          );
        const { applyJsonPatch, applyMergePatch } = await import('@podnet/api');
        const scale = registry.toScale(o);
        const patched = pt === 'json' ? applyJsonPatch(scale, body()) : applyMergePatch(scale, body());
        return respond(reply, 200, await registry.updateScale(info, ns ?? '', p.name as string, patched));
      }
      throw methodNotAllowed(`${req.method} is not supported on ${info.resource}/scale`);
    }

    switch (req.method) {
      case 'GET': {
        if (p.name) {
          const o = registry.get(info, ns ?? '', p.name);
          if (table) return respond(reply, 200, toTable(info.kind, [o], o.metadata.resourceVersion, { includeObject }));
          return respond(reply, 200, o);
        }
        const r = registry.list(info, p.namespace, {
          labelSelector: q.labelSelector,
          fieldSelector: q.fieldSelector,
          limit: queryInt(q.limit, 'limit'),
          continue: q.continue,
        });
        const listMeta: Obj = {
          resourceVersion: r.resourceVersion,
          ...(r.continue ? { continue: r.continue, remainingItemCount: r.remainingItemCount } : {}),
        };
        if (table) return respond(reply, 200, toTable(info.kind, r.items, r.resourceVersion, { includeObject }, listMeta));
        return respond(reply, 200, { kind: info.listKind, apiVersion: listKindApiVersion(info), metadata: listMeta, items: r.items });
      }
      case 'POST': {
        if (p.name) throw methodNotAllowed(`POST is not allowed on a single ${info.singular}; use PUT or PATCH`);
        const r = await registry.create(info, ns ?? '', body(), write);
        return respond(reply, 201, r.object, r.warnings);
      }
      case 'PUT': {
        if (!p.name) throw methodNotAllowed(`PUT needs a name: /${info.resource}/NAME`);
        const r = await registry.update(info, ns ?? '', p.name, body(), { ...write, subresource: p.subresource });
        return respond(reply, 200, r.object, r.warnings);
      }
      case 'PATCH': {
        if (!p.name) throw methodNotAllowed(`PATCH needs a name: /${info.resource}/NAME`);
        const pt = patchTypeOf(req.headers['content-type']);
        if (!pt) {
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got "${req.headers['content-type'] ?? ''}")`,
          );
        }
        const r = await registry.patch(info, ns ?? '', p.name, pt, body(), {
          ...write,
          subresource: p.subresource,
          force: queryBool(q.force),
        });
        return respond(reply, r.created ? 201 : 200, r.object, r.warnings);
      }
      case 'DELETE': {
        let opts: Obj = {};
        const raw = req.body as Buffer | undefined;
        if (raw && raw.length > 0) {
          const b = decodeBody(raw, req.headers['content-type'], `DELETE ${path}`);
          if (b && typeof b === 'object') opts = b as Obj;
        }
        const gp = q.gracePeriodSeconds !== undefined ? queryInt(q.gracePeriodSeconds, 'gracePeriodSeconds') : opts.gracePeriodSeconds;
        const del = {
          gracePeriodSeconds: gp,
          propagationPolicy: q.propagationPolicy ?? opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : undefined),
          preconditions: opts.preconditions,
        };
        if (p.name) {
          const o = await registry.delete(info, ns ?? '', p.name, del);
          return respond(reply, 200, o);
        }
        const items = await registry.deleteCollection(
          info,
          p.namespace,
          { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector },
          del,
        );
        return respond(reply, 200, {
          kind: info.listKind,
          apiVersion: listKindApiVersion(info),
          metadata: { resourceVersion: String(store.resourceVersion) },
          items,
        });
      }
      default:
        throw methodNotAllowed(`${req.method} is not supported`);
    }
  };

  const watchParams = (p: ResourcePath, q: Record<string, string>): WatchParams => ({
    info: p.info,
    namespace: p.info.namespaced ? p.namespace : undefined,
    selectors: registry.parseSelectors(p.info, {
      labelSelector: q.labelSelector,
      fieldSelector: q.fieldSelector ?? (p.name ? `metadata.name=${p.name}` : undefined),
    }),
    resourceVersion: q.resourceVersion,
    sendInitialEvents: q.sendInitialEvents === 'true',
    allowWatchBookmarks: q.allowWatchBookmarks === 'true',
    timeoutSeconds: queryInt(q.timeoutSeconds, 'timeoutSeconds'),
  });

  const tableEvent = (p: ResourcePath, type: WireType, object: Obj, includeObject: 'None' | 'Metadata' | 'Object'): string => {
    if (type === 'ERROR' || type === 'BOOKMARK') return JSON.stringify({ type, object });
    return JSON.stringify({ type, object: toTable(p.info.kind, [object], object.metadata?.resourceVersion ?? '', { includeObject }) });
  };

  // Chunked HTTP watch: 200, headers flushed at once (apiserver handlers/watch.go HandleHTTP
  // flushes after WriteHeader), one JSON event per line, `\n` heartbeats.
  const serveWatchHttp = (
    req: FastifyRequest,
    reply: FastifyReply,
    p: ResourcePath,
    q: Record<string, string>,
    table: boolean,
    includeObject: 'None' | 'Metadata' | 'Object',
  ) => {
    const params = watchParams(p, q);
    const res: ServerResponse = reply.raw;
    reply.hijack();
    res.writeHead(200, { 'Content-Type': JSON_CT, 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    metrics.longrunning.inc({ verb: 'watch', resource: p.info.resource });
    metrics.requests.inc({ verb: 'watch', resource: p.info.resource, code: '200' });
    let ended = false;
    let corked = false;
    const sink: WatchSink = {
      send(type, object, cached) {
        if (ended) return;
        // One TLS write per tick, not per event (as the WebSocket sink).
        if (!corked) {
          corked = true;
          res.cork();
          setImmediate(() => {
            corked = false;
            res.uncork();
          });
        }
        // The shared line (encoded once for every watcher); a Table is per watcher (includeObject).
        res.write(table ? `${tableEvent(p, type, object as Obj, includeObject)}\n` : cached.eventJsonLine(type));
      },
      close() {
        if (ended) return;
        ended = true;
        res.end();
      },
    };
    const handle = hub.start(params, sink);
    const hb = setInterval(() => {
      if (!ended) res.write('\n');
    }, heartbeatMs);
    let cleaned = false;
    const cleanup = () => {
      if (cleaned) return;
      cleaned = true;
      clearInterval(hb);
      handle.stop();
      if (!ended) {
        ended = true;
        res.end();
      }
      metrics.longrunning.dec({ verb: 'watch', resource: p.info.resource });
    };
    res.on('close', cleanup);
    req.raw.on('close', () => {
      if (res.destroyed) cleanup();
    });
  };

  // ---- kubelet serving certificates (kubelet-certs.ts) --------------------------------------
  const issueKubeletCert = (req: FastifyRequest, reply: FastifyReply) => {
    const user = userOf(req);
    if (req.method !== 'POST') throw methodNotAllowed(`${KUBELET_CERT_PATH} accepts only POST`);
    if (!KUBELET_CERT_USERS.has(user))
      throw new ApiError(403, 'Forbidden', `User "${user}" cannot obtain a kubelet serving certificate (only node-agent and admin may)`);
    const r = parseKubeletCertRequest(decodeBody(req.body as Buffer | undefined, req.headers['content-type'], `POST ${KUBELET_CERT_PATH}`));
    if (!creds.caKeyPem) throw noCaKey();
    const certificate = signKubeletServingCert(creds.caPem, creds.caKeyPem, r);
    log.info({ node: r.nodeName, address: r.address, user }, 'signed a kubelet serving certificate');
    return Boolean(respond(reply, 201, { certificate, ca: creds.caPem }));
  };

  // ---- pods/log and pods/exec: proxied to the node-agent -----------------------------------
  const nodeTarget = (p: ResourcePath): { host: string; node: string; pod: Obj } => {
    const pod = registry.get(p.info, p.namespace ?? '', p.name as string);
    const nodeName: string | undefined = pod.spec?.nodeName;
    if (!nodeName) throw badRequest(`pod ${p.name} does not have a host assigned`);
    const node = store.get('core/nodes', '', nodeName);
    if (!node) throw notFound('nodes', '', nodeName);
    const addr =
      node.metadata.annotations?.['podnet.dev/transport-address'] ??
      (node.status?.addresses ?? []).find((a: Obj) => a.type === 'InternalIP')?.address;
    if (!addr)
      throw new ApiError(
        503,
        'ServiceUnavailable',
        `node "${nodeName}" has no podnet.dev/transport-address annotation: its node-agent cannot be reached`,
      );
    return { host: addr, node: nodeName, pod };
  };

  /**
   * The query for the kubelet: the container moves into the path, and exec's stream flags are
   * also given in the kubelet's own names, input/output/error/tty=1 (the real apiserver's
   * ExecLocation streamParams); the client's stdin/stdout/stderr/tty=true stay as they came.
   */
  const kubeletQuery = (q: URLSearchParams, exec: boolean): string => {
    const rest = new URLSearchParams(q);
    rest.delete('container');
    if (exec) {
      for (const [client, kubelet] of [
        ['stdin', 'input'],
        ['stdout', 'output'],
        ['stderr', 'error'],
        ['tty', 'tty'],
      ] as const) {
        const v = q.get(client);
        if ((v === 'true' || v === '1') && !rest.has(kubelet)) rest.append(kubelet, '1');
        if (client === 'tty' && (v === 'true' || v === '1')) rest.set('tty', '1');
      }
    }
    const s = rest.toString();
    return s ? `?${s}` : '';
  };

  const containerOf = (pod: Obj, q: URLSearchParams): string => {
    const c = q.get('container') ?? (pod.spec?.containers?.length === 1 ? pod.spec.containers[0].name : undefined);
    if (!c)
      throw badRequest(
        `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${(pod.spec?.containers ?? []).map((x: Obj) => x.name).join(' ')}]`,
      );
    return c;
  };

  const proxyToNode = (_req: FastifyRequest, reply: FastifyReply, p: ResourcePath, url: URL) => {
    const { host, node, pod } = nodeTarget(p);
    const container = containerOf(pod, url.searchParams);
    const kind = p.subresource === 'log' ? 'containerLogs' : 'exec';
    // The kubelet's paths (pkg/kubelet/server/server.go): /containerLogs/{ns}/{pod}/{container}.
    const target = `/${kind}/${encodeURIComponent(p.namespace ?? '')}/${encodeURIComponent(p.name as string)}/${encodeURIComponent(container)}${kubeletQuery(url.searchParams, kind === 'exec')}`;
    return new Promise<void>((resolve) => {
      const up = httpsRequest(
        { host, port: kubeletPort, path: target, method: 'GET', ...kubeletTls, timeout: kubeletDialMs, agent: false },
        (res) => {
          // The kubelet answered: from here on a `follow=true` stream may be silent for as long
          // as the container is (the real proxy, UpgradeAwareHandler, sets no idle timeout).
          up.setTimeout(0);
          reply.hijack();
          reply.raw.writeHead(res.statusCode ?? 502, { 'Content-Type': res.headers['content-type'] ?? 'text/plain' });
          res.pipe(reply.raw);
          res.on('end', resolve);
          reply.raw.on('close', () => res.destroy());
        },
      );
      up.on('timeout', () => up.destroy(new Error(`timed out after ${kubeletDialMs} ms`)));
      up.on('error', (e) => {
        if (!reply.sent)
          sendStatus(
            reply,
            new ApiError(
              502,
              'ServiceUnavailable',
              `error dialing backend: dial tcp ${host}:${kubeletPort}: ${(e as Error).message} (the node-agent of node "${node}" is not reachable)`,
            ),
          );
        resolve();
      });
      up.end();
    });
  };

  app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/*', handler: handle });
  app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/', handler: handle });

  // ---- WebSocket: watch (JSON text frames or protobuf binary frames) and exec proxying ----
  const wss = new WebSocketServer({
    noServer: true,
    // No permessage-deflate (RFC 7692): compressing would be one deflate per watcher per event
    // (its context is per connection), the fan-out's costliest step; the real apiserver's
    // WebSocket watch (golang.org/x/net/websocket) has no permessage-deflate either. Explicit,
    // not left to the library's default.
    perMessageDeflate: false,
    // Only watches are upgraded here (exec is relayed to the kubelet, which picks its protocol);
    // checkSubprotocols has already refused every offer but these two.
    handleProtocols: (protocols) => (protocols.has(WATCH_PROTOBUF_SUBPROTOCOL) ? WATCH_PROTOBUF_SUBPROTOCOL : false),
  });
  const rejectUpgrade = (socket: Duplex, e: ApiError) => {
    const body = JSON.stringify(e.toStatus());
    socket.end(
      `HTTP/1.1 ${e.code} ${e.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      const url = new URL(req.url ?? '/', 'https://x');
      const segs = url.pathname
        .split('/')
        .filter((s) => s !== '')
        .map(decodeURIComponent);
      const q = Object.fromEntries(url.searchParams) as Record<string, string>;
      const m = matchResourcePath(segs);
      if (m.kind !== 'resource') throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      const actor = auth.authenticate(req.headers.authorization, req.headers['sec-websocket-protocol']);
      limiter.take(actor);
      const who = impersonate(identityOf(actor), req.headersDistinct);
      const p = m.path;
      const isExec = p.subresource === 'exec' || p.subresource === 'attach';
      checkSubprotocols(req.headers['sec-websocket-protocol'], isExec);
      if (isExec) {
        authorize(who, 'create', p.info.resource, p.info.group, p.namespace, p.name);
        return proxyUpgrade(req, socket, head, p, url);
      }
      if (!(queryBool(q.watch) && q.watch !== undefined))
        throw badRequest('a WebSocket request must be a watch (?watch=true) or pods/exec');
      authorize(who, 'watch', p.info.resource, p.info.group, p.namespace, p.name);
      const params = watchParams(p, q);
      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        const binary = ws.protocol === WATCH_PROTOBUF_SUBPROTOCOL;
        metrics.longrunning.inc({ verb: 'watch', resource: p.info.resource });
        metrics.requests.inc({ verb: 'watch', resource: p.info.resource, code: '101' });
        // Events of one tick go out under one cork, so TLS seals them into few records and
        // one write instead of one per event (the fan-out's main cost; see the bench).
        // Every frame is the event's shared encoding (EncodedCache: one protobuf encode, or one
        // UTF-8 JSON line, per event for all watchers); ws frames it without copying (no mask
        // server-side, RFC 6455 §5.2) and without compression (perMessageDeflate: false above).
        const queue: Uint8Array[] = [];
        const frame = { binary };
        const flush = () => {
          const socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
          socket?.cork();
          for (const m of queue) ws.send(m, frame);
          queue.length = 0;
          socket?.uncork();
        };
        const sink: WatchSink = {
          send(type, _object, cached: EncodedCache) {
            if (ws.readyState !== ws.OPEN) return;
            if (queue.length === 0) setImmediate(flush);
            queue.push(binary ? cached.eventProto(type) : cached.eventJsonLine(type));
          },
          close() {
            if (ws.readyState !== ws.OPEN) return;
            if (queue.length > 0) flush();
            ws.close(1000);
          },
        };
        const handle = hub.start(params, sink);
        ws.on('close', () => {
          handle.stop();
          metrics.longrunning.dec({ verb: 'watch', resource: p.info.resource });
        });
        ws.on('error', () => handle.stop());
      });
    } catch (e) {
      rejectUpgrade(socket, e instanceof ApiError ? e : new ApiError(500, 'InternalError', String(e)));
    }
  });

  const proxyUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, p: ResourcePath, url: URL) => {
    const { host, node, pod } = nodeTarget(p);
    const container = containerOf(pod, url.searchParams);
    const target = `/${p.subresource}/${encodeURIComponent(p.namespace ?? '')}/${encodeURIComponent(p.name as string)}/${encodeURIComponent(container)}${kubeletQuery(url.searchParams, true)}`;
    const up = tlsConnect({ host, port: kubeletPort, ...kubeletTls, ...(isIP(host) ? {} : { servername: host }) });
    up.setTimeout(kubeletDialMs, () => up.destroy(new Error(`timed out after ${kubeletDialMs} ms`)));
    up.on('secureConnect', () => {
      // Connected and verified: the exec stream itself has no idle timeout.
      up.setTimeout(0);
      const headers = Object.entries(req.headers)
        .filter(([k]) => k !== 'host' && k !== 'authorization' && !k.startsWith('impersonate-'))
        .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `${k}: ${x}`) : [`${k}: ${v}`]));
      up.write(`${req.method ?? 'GET'} ${target} HTTP/1.1\r\nHost: ${host}:${kubeletPort}\r\n${headers.join('\r\n')}\r\n\r\n`);
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', (e) =>
      rejectUpgrade(
        socket,
        new ApiError(
          502,
          'ServiceUnavailable',
          `error dialing backend: dial tcp ${host}:${kubeletPort}: ${e.message} (the node-agent of node "${node}" is not reachable)`,
        ),
      ),
    );
    socket.on('error', () => up.destroy());
  };

  await bootstrap(registry, store);
  await app.listen({ port: opts.port ?? 6443, host: opts.host ?? '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 6443);
  const host = opts.host ?? '127.0.0.1';
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const kubeconfigPath = join(opts.dataDir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfigYaml(url, creds.caPem, tokens.admin ?? ''), { mode: 0o600 });
  for (const [user, token] of Object.entries(tokens)) {
    if (user !== 'admin')
      writeFileSync(join(opts.dataDir, `kubeconfig-${user}`), kubeconfigYaml(url, creds.caPem, token, user), { mode: 0o600 });
  }
  log.info({ url, resourceVersion: store.resourceVersion }, 'listening');
  return {
    url,
    port,
    caPem: creds.caPem,
    adminToken: tokens.admin ?? '',
    tokens,
    kubeconfigPath,
    store,
    async close() {
      hub.close();
      for (const c of wss.clients) c.terminate();
      await app.close();
      await store.close();
    },
  };
}

/** Default namespaces and the `kubernetes` Service (10.96.0.1), created once per cluster. */
async function bootstrap(registry: Registry, store: Store): Promise<void> {
  const { findResource } = await import('@podnet/api');
  const nsInfo = findResource('', 'v1', 'namespaces') as ResourceInfo;
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    if (!store.get(resourceKey(nsInfo), '', name)) await registry.create(nsInfo, '', { metadata: { name } });
  }
  const svcInfo = findResource('', 'v1', 'services') as ResourceInfo;
  if (!store.get(resourceKey(svcInfo), 'default', 'kubernetes')) {
    await registry.create(svcInfo, 'default', {
      metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: { type: 'ClusterIP', clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] },
    });
  }
}
