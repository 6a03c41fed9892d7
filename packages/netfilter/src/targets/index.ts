// The target extensions podnet knows, by `-j` name (ACCEPT, DROP, RETURN and chain jumps are the
// rule parser's own). Anything else is refused ("Couldn't load target").
import type { TargetModule } from '../rule.js';
import { logTarget, traceTarget } from './log.js';
import { markTarget } from './mark.js';
import { dnatTarget, masqueradeTarget, snatTarget } from './nat.js';
import { ctTarget, notrackTarget } from './notrack.js';
import { rejectTarget } from './reject.js';

export const TARGETS: ReadonlyMap<string, TargetModule> = new Map(
  (
    [rejectTarget, dnatTarget, snatTarget, masqueradeTarget, markTarget, logTarget, traceTarget, notrackTarget, ctTarget] as TargetModule[]
  ).map((t) => [t.name, t]),
);
