/** Poll until `check` returns a truthy value (or throw after `timeoutMs`). For convergence, not timing. */
export async function waitFor<T>(check: () => Promise<T> | T, { timeoutMs = 20_000, intervalMs = 50, what = 'condition' } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
