/**
 * Talking to the dashboard API: the admin token (kept in localStorage, taken once from a
 * `#token=` link and then wiped from the address bar), JSON requests, and a polling hook
 * so every page shows convergence as it happens.
 */
import { useEffect, useState } from 'preact/hooks';

const STORAGE_KEY = 'switchboard.adminToken';

/** Whether the address held a `#token=` (now stored and wiped). */
export function takeTokenFromLink(): boolean {
  const match = /[#&]token=([^&]+)/.exec(location.hash);
  if (!match) return false;
  localStorage.setItem(STORAGE_KEY, decodeURIComponent(match[1]!));
  history.replaceState(null, '', `${location.pathname}#/`);
  return true;
}

export const getToken = () => localStorage.getItem(STORAGE_KEY);
export const setToken = (token: string) => localStorage.setItem(STORAGE_KEY, token);
export const clearToken = () => localStorage.removeItem(STORAGE_KEY);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const unauthorizedListeners = new Set<() => void>();
export const onUnauthorized = (listener: () => void) => {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
};

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${getToken() ?? ''}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const payload = (await response.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
  if (!response.ok) {
    if (response.status === 401) for (const listener of unauthorizedListeners) listener();
    throw new ApiError(response.status, payload?.error?.code ?? 'SB_ERR_INTERNAL', payload?.error?.message ?? response.statusText);
  }
  return payload as T;
}

export interface Polled<T> {
  data: T | undefined;
  error: string | undefined;
  refresh(): void;
}

/** GET `path` now and every `intervalMs` while the page is shown. */
export function usePoll<T>(path: string, intervalMs = 2000): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const value = await api<T>(path);
        if (!stopped) {
          setData(value);
          setError(undefined);
        }
      } catch (caught) {
        if (!stopped) setError((caught as Error).message);
      }
      if (!stopped) timer = setTimeout(load, intervalMs);
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [path, intervalMs, tick]);
  return { data, error, refresh: () => setTick((t) => t + 1) };
}
