// The emulated TCP (RFC 9293) of a namespace, with the node:net API on top.
export * from './config.js';
export type { TcpInfo, TcpState } from './connection.js';
export * from './errors.js';
export { type ConnectionSummary, TcpLayer } from './layer.js';
export { type ListenOptions, type ServerOptions, TcpServer } from './server.js';
export { type ConnectOptions, TcpSocket } from './socket.js';
