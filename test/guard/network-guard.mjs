// The network guard of DESIGN §7. Loaded into every vitest worker (setupFiles) and, through
// NODE_OPTIONS=--import, into every Node child process a test starts. It refuses any real
// socket connect or send (net, dgram, and podnet's UDP segmentation addon) to an address outside 127.0.0.0/8 (and ::1) and the test's own
// namespaces/containers (PODNET_GUARD_ALLOW, comma-separated CIDRs), throwing before a
// single packet leaves, and records the refusal in PODNET_GUARD_LOG so the test that caused
// it fails even if the caller swallowed the error.
//
// Why: an emulated Service IP such as 10.96.0.1 must never be reached by a real socket; a
// stray http.request whose createConnection was silently ignored would leave the machine.

import dgram from 'node:dgram';
import dns from 'node:dns';
import { appendFileSync } from 'node:fs';
import net from 'node:net';

const GUARDED = Symbol.for('podnet.networkGuard');

/** Parses "a.b.c.d/len" (or a bare address) into [network, mask] as uint32. */
function parseCidr(text) {
  const [addr, lenText] = text.trim().split('/');
  const len = lenText === undefined ? 32 : Number(lenText);
  const ip = ipv4ToInt(addr);
  if (ip === undefined || !Number.isInteger(len) || len < 0 || len > 32) {
    throw new Error(`podnet network guard: PODNET_GUARD_ALLOW entry "${text}" is not an IPv4 CIDR`);
  }
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [(ip & mask) >>> 0, mask];
}

function ipv4ToInt(text) {
  if (typeof text !== 'string' || net.isIPv4(text) === false) return undefined;
  return text.split('.').reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
}

function extraAllowed() {
  const raw = process.env.PODNET_GUARD_ALLOW;
  if (!raw) return [];
  return raw.split(',').filter(Boolean).map(parseCidr);
}

/** True when a real socket may talk to this address. */
export function isAllowedAddress(address) {
  if (address === undefined || address === null || address === '') return true; // Node defaults to localhost
  let a = String(address);
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  if (a === 'localhost' || a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) a = mapped[1];
  const ip = ipv4ToInt(a);
  if (ip === undefined) return false; // any other IPv6 address or host name
  if (ip >>> 24 === 127) return true;
  return extraAllowed().some(([network, mask]) => (ip & mask) >>> 0 === network);
}

export class NetworkGuardError extends Error {
  constructor(what, address, port) {
    super(
      `podnet network guard: refused a real ${what} to ${address}${port === undefined ? '' : ` port ${port}`}. ` +
        'Tests may only reach 127.0.0.0/8 and the namespaces/containers they created ' +
        '(PODNET_GUARD_ALLOW). Emulated pod, Service and node IPs live only inside emulated frames (DESIGN §4, §7).',
    );
    this.name = 'NetworkGuardError';
    this.code = 'PODNET_ERR_NETWORK_GUARD';
  }
}

function refuse(what, address, port) {
  const error = new NetworkGuardError(what, address, port);
  const log = process.env.PODNET_GUARD_LOG;
  if (log) {
    try {
      appendFileSync(log, `${JSON.stringify({ pid: process.pid, what, address, port, message: error.message })}\n`);
    } catch {
      // The log is a second line of defence; the thrown error is the first.
    }
  }
  process.stderr.write(`${error.message}\n`);
  throw error;
}

/** Wraps a dns-style lookup so that a host name resolving outside the allowed set is refused. */
function guardedLookup(original, port) {
  const lookup = original ?? dns.lookup;
  return function lookupGuard(hostname, options, callback) {
    const cb = typeof options === 'function' ? options : callback;
    const opts = typeof options === 'function' ? {} : options;
    lookup(hostname, opts, (err, address, family) => {
      if (err) return cb(err, address, family);
      const list = Array.isArray(address) ? address.map((a) => a.address) : [address];
      const bad = list.find((a) => !isAllowedAddress(a));
      if (bad !== undefined) {
        try {
          refuse('connect', `${hostname} (${bad})`, port);
        } catch (guardError) {
          return cb(guardError);
        }
      }
      return cb(null, address, family);
    });
  };
}

function normalizeConnectArgs(args) {
  // socket.connect(options[, listener]) | connect(path[, listener]) | connect(port[, host][, listener])
  const first = args[0];
  if (Array.isArray(first)) return normalizeConnectArgs(first); // internal normalized form
  if (first !== null && typeof first === 'object') return first;
  if (typeof first === 'string' && Number.isNaN(Number(first))) return { path: first };
  return { port: first, host: typeof args[1] === 'string' ? args[1] : undefined };
}

function install() {
  if (globalThis[GUARDED]) return;
  globalThis[GUARDED] = true;

  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(...args) {
    const opts = normalizeConnectArgs(args);
    if (opts.path === undefined || opts.path === null) {
      const host = opts.host ?? 'localhost';
      if (net.isIP(host)) {
        if (!isAllowedAddress(host)) refuse('TCP connect', host, opts.port);
      } else if (host !== 'localhost') {
        // A host name: check what it resolves to before the SYN is sent.
        opts.lookup = guardedLookup(opts.lookup, opts.port);
      }
    }
    return connect.apply(this, args);
  };

  const send = dgram.Socket.prototype.send;
  dgram.Socket.prototype.send = function guardedSend(...args) {
    // send(msg[, offset, length][, port][, address][, callback]); on a connected socket
    // the port/address are absent and connect() was already checked.
    const rest = args.slice(1).filter((a) => typeof a !== 'function');
    const strings = rest.filter((a) => typeof a === 'string');
    const numbers = rest.filter((a) => typeof a === 'number');
    const address = strings[0];
    const port = numbers.length === 1 || numbers.length === 3 ? numbers[numbers.length - 1] : undefined;
    if (port !== undefined && address !== undefined && !isAllowedAddress(address)) refuse('UDP send', address, port);
    return send.apply(this, args);
  };

  // The UDP segmentation addon (packages/netstack/native/udp_segment.c) sends with sendmsg(2) on
  // a dgram socket's descriptor, past dgram.Socket.prototype.send: its send is checked as it loads.
  const dlopen = process.dlopen;
  process.dlopen = function guardedDlopen(module, ...rest) {
    const result = dlopen.call(this, module, ...rest);
    const native = module?.exports?.sendSegmented;
    if (typeof native === 'function') {
      module.exports.sendSegmented = function guardedSendSegmented(fd, buffer, length, segment, address, port) {
        if (!isAllowedAddress(String(address))) refuse('UDP send (udp_segment addon)', address, port);
        return native.call(this, fd, buffer, length, segment, address, port);
      };
    }
    return result;
  };

  const dgramConnect = dgram.Socket.prototype.connect;
  dgram.Socket.prototype.connect = function guardedDgramConnect(port, address, ...rest) {
    const addr = typeof address === 'string' ? address : undefined;
    if (addr !== undefined && !isAllowedAddress(addr)) refuse('UDP connect', addr, port);
    return dgramConnect.call(this, port, address, ...rest);
  };
}

install();
