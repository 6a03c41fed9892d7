// Waiting in tests with a generous bound (DESIGN §7): polls a condition on real time, letting
// in-process wires deliver in between.
import { deliveryIdle } from '../deliver.js';

export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await deliveryIdle();
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Lets every frame queued on in-process wires be delivered (and what they cause, until quiet). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await deliveryIdle();
    await new Promise((resolve) => setImmediate(resolve));
  }
}
