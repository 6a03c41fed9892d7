// @podnet/netfilter: the node's netfilter table and the hook contract netstack calls (DESIGN §5).

export * from './conntrack/index.js';
export { Netfilter, type NetfilterOptions } from './engine.js';
export { IptablesError, NetfilterErrorCodes } from './errors.js';
export { explore, type TraceOutcome, type TracePacket, type TraceResult, type TraceSetup } from './explore.js';
export * from './hook.js';
export * from './nat/index.js';
export { type RestoreOptions, type RestoreResult, restore } from './restore.js';
export type { Rule, TableName } from './rule.js';
export { TABLE_NAMES } from './rule.js';
export { parseRule } from './rule-parser.js';
export { BUILTIN_CHAINS, type Chain, RuleSet, Table } from './ruleset.js';
export { listRules, listTable, SAVE_ORDER, type SaveOptions, save, saveTable } from './save.js';
export { tokenize } from './tokenize.js';
export { formatTrace, type TraceEvent, type TraceSink } from './trace.js';
export { WhatIfConntrack } from './what-if.js';
