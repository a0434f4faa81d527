/** Poll until `check` returns a truthy value (or throw after `timeoutMs`). For convergence, not timing. */
type Falsy = null | undefined | false | '' | 0;

export async function waitFor<T>(
  check: () => Promise<T | Falsy> | T | Falsy,
  { timeoutMs = 20_000, intervalMs = 50, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
