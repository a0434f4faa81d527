/**
 * Whole databases on a server, for what runs on its own throwaway database: the demo, the
 * benchmarks, the soak and the test run. Names are ours (letters, digits, _), never input.
 */
import pg from 'pg';

/** The URL of another database on the same server. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin(serverUrl: string, statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Drop `name` if it exists (its connections too), create it empty, and return its URL. */
export async function recreateDatabase(serverUrl: string, name: string): Promise<string> {
  await admin(serverUrl, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `CREATE DATABASE ${name}`]);
  return databaseUrl(serverUrl, name);
}

export const dropDatabase = (serverUrl: string, name: string) => admin(serverUrl, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
