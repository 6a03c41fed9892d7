// Frames crossing an in-process wire (veth, loopback) are delivered on a later turn of the event
// loop, never inside the sender's call: a reply sent from a receive handler would otherwise recurse
// through both stacks, and a loop (a bridge flooding into itself) would never yield. One
// setImmediate drains everything queued so far, in order, so delivery stays FIFO and deterministic.
// It is scheduling, not time: delays use the injected Clock (faults.ts).

let queue: Array<() => void> = [];
let scheduled = false;
const idleWaiters: Array<() => void> = [];

function drain(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  for (const fn of batch) {
    try {
      fn();
    } catch {
      // A receive path counts and drops its own errors (LinkBase.receive); nothing reaches here.
    }
  }
  if (queue.length > 0) schedule();
  else for (const w of idleWaiters.splice(0)) w();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(drain);
}

/** Runs fn on the next delivery turn. */
export function deferDelivery(fn: () => void): void {
  queue.push(fn);
  schedule();
}

/** Resolves once no in-process frame is waiting for delivery (tests: "let the wires settle"). */
export function deliveryIdle(): Promise<void> {
  if (!scheduled && queue.length === 0) return Promise.resolve();
  return new Promise((resolve) => idleWaiters.push(resolve));
}
