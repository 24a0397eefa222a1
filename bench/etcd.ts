/**
 * The etcd reference side of `npm run bench:etcd`: a 3-member etcd cluster on loopback (Debian's
 * etcd-server, fsync on, v3 API through the npm `etcd3` gRPC client) under a closed-loop load of
 * 100-byte puts, and the load driver itself (`runLoad`), shared with the statechorus side so both
 * systems see an identical load generator.
 *
 *   node dist/bench/etcd.js [--duration 10] [--warmup 1] [--clients 1,64,256] [--instances 1]
 *   --duration / --warmup: seconds measured / seconds discarded first, per client count.
 *   --instances: Etcd3 client instances the load clients share (client i uses instance i mod n).
 *
 * Data dirs live in a fresh temp dir under os.tmpdir() (the same file system should hold the
 * statechorus side's file storage, or the comparison measures two disks).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad, type LoadResult } from './load.ts';
import { benchNetworkGroup } from './network.ts';
import { Etcd3 } from 'etcd3';

// ---------------------------------------------------------------------------------------------
// The cluster

export interface EtcdClusterOptions {
  members?: number;
  /** Parent of the temp dir holding data dirs and logs (default os.tmpdir()). */
  baseDir?: string;
  /** Member i listens for clients on basePort + 2i and for peers on basePort + 2i + 1; default: free ports. */
  basePort?: number;
  /** The etcd binary (default `etcd` on PATH). */
  etcdBin?: string;
  /** Milliseconds to wait for the cluster to become healthy (default 30 s). */
  startTimeoutMs?: number;
}

export interface EtcdCluster {
  /** Client URLs, `http://127.0.0.1:<port>`, one per member. */
  endpoints: string[];
  /** Process ids of the members (to read their CPU time). */
  pids: number[];
  /** The temp dir (data dirs `m<i>/`, logs `m<i>.log`). */
  dir: string;
  stop(): Promise<void>;
}

/** Every member process and temp dir alive in this process, cleaned up on exit and on SIGINT/SIGTERM. */
const liveProcesses = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooksInstalled = false;

function cleanUpNow(): void {
  for (const child of liveProcesses) child.kill('SIGKILL');
  liveProcesses.clear();
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', cleanUpNow); // also runs after an uncaught exception
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanUpNow();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Ports the kernel reports free right now (all held open together, so they are distinct). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Throws unless every port can be bound on 127.0.0.1 now (a given basePort may clash with a running etcd). */
async function checkPortsFree(ports: number[]): Promise<void> {
  for (const port of ports) {
    await new Promise<void>((resolve, reject) => {
      const server = createServer();
      server.once('error', () => reject(new Error(`port ${port} is in use`)));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
    });
  }
}

/** Installs etcd-server with the repo's apt helper when `etcd` is missing (a no-op when present). */
function ensureEtcdInstalled(): void {
  let dir = dirname(fileURLToPath(import.meta.url)); // bench/ or dist/bench/
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    const script = join(dir, 'scripts', 'apt-ensure.sh');
    if (existsSync(script)) {
      execFileSync('bash', [script, 'etcd:etcd-server'], { stdio: 'inherit' });
      return;
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** True when the member answers `/health` with `"health":"true"` (it has a leader and serves reads). */
async function memberHealthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
    return res.ok && /"health"\s*:\s*"true"/.test(await res.text());
  } catch {
    return false;
  }
}

/** Waits for an exit signal from the child, SIGKILLing it after `graceMs`. */
function terminate(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts `members` etcd processes on 127.0.0.1 with a static `--initial-cluster` bootstrap and
 * etcd's default durability (fsync of the WAL before acknowledging), and resolves once every member
 * reports healthy and a put through the v3 API succeeds. The processes are killed on `stop()`, on
 * process exit and on SIGINT/SIGTERM, and at once if startup fails.
 */
export async function startEtcdCluster({
  members = 3,
  baseDir = tmpdir(),
  basePort,
  etcdBin = 'etcd',
  startTimeoutMs = 30_000,
}: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  if (etcdBin === 'etcd') ensureEtcdInstalled();
  installExitHooks();
  mkdirSync(baseDir, { recursive: true });
  const dir = mkdtempSync(join(baseDir, 'statechorus-etcd-'));
  liveDirs.add(dir);
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => terminate(c)));
    for (const c of children) liveProcesses.delete(c);
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  };

  try {
    const ports = basePort === undefined ? await freePorts(2 * members) : Array.from({ length: 2 * members }, (_, i) => basePort + i);
    if (basePort !== undefined) await checkPortsFree(ports);
    const url = (port: number) => `http://127.0.0.1:${port}`;
    const clientPort = (i: number) => ports[2 * i]!;
    const peerPort = (i: number) => ports[2 * i + 1]!;
    const names = Array.from({ length: members }, (_, i) => `m${i}`);
    const initialCluster = names.map((name, i) => `${name}=${url(peerPort(i))}`).join(',');
    const endpoints = names.map((_, i) => url(clientPort(i)));
    const token = `bench-${randomBytes(4).toString('hex')}`; // the same for every member of one cluster
    // Inherited ETCD_* variables would override the flags below.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));

    let failure: Error | undefined;
    let started = false; // exits after startup are expected (stop) or show up as the load's errors
    names.forEach((name, i) => {
      const log = join(dir, `${name}.log`);
      const child = spawn(
        etcdBin,
        [
          `--name=${name}`,
          `--data-dir=${join(dir, name)}`,
          `--listen-client-urls=${endpoints[i]}`,
          `--advertise-client-urls=${endpoints[i]}`,
          `--listen-peer-urls=${url(peerPort(i))}`,
          `--initial-advertise-peer-urls=${url(peerPort(i))}`,
          `--initial-cluster=${initialCluster}`,
          '--initial-cluster-state=new',
          `--initial-cluster-token=${token}`,
          '--logger=zap',
          '--log-level=error',
          `--log-outputs=${log}`,
        ],
        { env, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      liveProcesses.add(child);
      children.push(child);
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2_000)));
      child.once('error', (e) => (failure ??= new Error(`etcd ${name}: ${e.message}`)));
      child.once('exit', (code, signal) => {
        liveProcesses.delete(child);
        if (!started) {
          const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2_000) : '';
          failure ??= new Error(`etcd ${name} exited (${signal ?? code}) during startup:\n${stderr}${tail}`);
        }
      });
    });

    // Healthy = every member has a leader, and a write commits through the client API.
    const deadline = Date.now() + startTimeoutMs;
    const probe = new Etcd3({ hosts: endpoints, defaultCallOptions: () => ({ deadline: Date.now() + 2_000 }) });
    try {
      for (;;) {
        if (failure) throw failure;
        if (Date.now() > deadline) throw new Error(`etcd cluster not healthy after ${startTimeoutMs} ms (logs in ${dir})`);
        const healthy = await Promise.all(endpoints.map(memberHealthy));
        if (healthy.every(Boolean)) {
          try {
            await probe.put('bench/health').value('ok').exec();
            break;
          } catch {
            // not yet: retry below
          }
        }
        await sleep(100);
      }
    } finally {
      probe.close();
    }
    if (failure) throw failure; // e.g. a member lost its port after the check, and another etcd answered
    started = true;
    return { endpoints, pids: children.map((c) => c.pid!), dir, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// The etcd op

export interface EtcdWriteOptions {
  /**
   * Etcd3 client instances the load clients share, client i using instance i mod n (default 1).
   * Each instance keeps one HTTP/2 connection per endpoint and multiplexes its calls over it.
   */
  instances?: number;
}

/**
 * A 100-byte put to `bench/<clientIndex>` (one key per load client; the value is 100 random bytes
 * drawn once) through the etcd3 client, configured with every endpoint: as etcd3 does, each call
 * goes to a randomly picked member, and followers forward the proposal to the leader.
 */
export function etcdWriteOp(endpoints: string[], { instances = 1 }: EtcdWriteOptions = {}) {
  const value = randomBytes(100);
  const clients = Array.from({ length: instances }, () => new Etcd3({ hosts: endpoints }));
  const keys: Buffer[] = [];
  const key = (i: number) => (keys[i] ??= Buffer.from(`bench/${i}`));
  return {
    op: async (clientIndex: number): Promise<void> => {
      await clients[clientIndex % instances]!.put(key(clientIndex)).value(value).exec();
    },
    close: () => {
      for (const c of clients) c.close();
    },
  };
}

/** A counter or histogram count from a member's Prometheus `/metrics` (summed over label sets). */
export async function etcdMetric(endpoint: string, name: string): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** CPU time (user + system) of a process in ms, from /proc (Linux; NaN elsewhere). */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
    return ((Number(fields[11]) + Number(fields[12])) * 1_000) / 100; // utime + stime, USER_HZ = 100
  } catch {
    return NaN;
  }
}

/** Busy CPU time of the whole machine (all cores, all processes) in ms, from /proc/stat (NaN elsewhere). */
function machineBusyMs(): number {
  try {
    // cpu  user nice system idle iowait irq softirq steal ...
    const t = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const busy = [0, 1, 2, 5, 6, 7].reduce((s, i) => s + (t[i] ?? 0), 0);
    return (busy * 1_000) / 100; // USER_HZ = 100
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// The etcd side of the benchmark, and main

export interface EtcdBenchOptions {
  /** Load client counts, one closed-loop run each (default 1, 64, 256). */
  clientCounts?: number[];
  durationMs?: number;
  warmupMs?: number;
  /** Etcd3 client instances (see etcdWriteOp). */
  instances?: number;
}

export interface EtcdBenchRow extends LoadResult {
  clients: number;
  /** WAL fsyncs per successful write (warm-up and drain included), per member. */
  fsyncsPerWrite: number[];
  /** Mean WAL fsync duration over the run, all members (etcd's own histogram). */
  msPerFsync: number;
  /** CPU time over the run (warm-up included) in % of one core: the members together, this process, all other processes. */
  etcdCpuPct: number;
  benchCpuPct: number;
  otherCpuPct: number;
  /** This process's CPU time per successful op (the etcd3 client and the load driver). */
  benchCpuMicrosPerOp: number;
}

/** Starts a 3-member cluster, runs the 100-byte put load at each client count against it, and stops it. */
export async function benchEtcd({ clientCounts = [1, 64, 256], durationMs = 10_000, warmupMs = 1_000, instances = 1 }: EtcdBenchOptions = {}): Promise<EtcdBenchRow[]> {
  const cluster = await startEtcdCluster();
  const { op, close } = etcdWriteOp(cluster.endpoints, { instances });
  const metric = (name: string) => Promise.all(cluster.endpoints.map((e) => etcdMetric(e, name)));
  const fsyncs = async () => ({ count: await metric('etcd_disk_wal_fsync_duration_seconds_count'), seconds: await metric('etcd_disk_wal_fsync_duration_seconds_sum') });
  const etcdCpuMs = () => cluster.pids.reduce((s, pid) => s + processCpuMs(pid), 0);
  const total = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
  const rows: EtcdBenchRow[] = [];
  try {
    for (const clients of clientCounts) {
      const f0 = await fsyncs();
      const [e0, b0, m0] = [etcdCpuMs(), process.cpuUsage(), machineBusyMs()];
      const r = await runLoad({ clients, durationMs, warmupMs, op });
      const [e1, b1, m1] = [etcdCpuMs(), process.cpuUsage(b0), machineBusyMs()];
      const f1 = await fsyncs();
      const [etcdMs, benchMs] = [e1 - e0, (b1.user + b1.system) / 1_000];
      rows.push({
        clients,
        ...r,
        fsyncsPerWrite: f1.count.map((c, i) => (c - f0.count[i]!) / r.completed),
        msPerFsync: (1_000 * (total(f1.seconds) - total(f0.seconds))) / (total(f1.count) - total(f0.count)),
        etcdCpuPct: (etcdMs / r.elapsedMs) * 100,
        benchCpuPct: (benchMs / r.elapsedMs) * 100,
        otherCpuPct: ((m1 - m0 - etcdMs - benchMs) / r.elapsedMs) * 100,
        benchCpuMicrosPerOp: (benchMs * 1_000) / r.completed,
      });
    }
  } finally {
    close();
    await cluster.stop();
  }
  return rows;
}

const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The rows as a Markdown table, in the style of bench/replication.ts. */
export function formatEtcdTable(rows: EtcdBenchRow[]): string {
  const lines = [
    '| clients | ops/s | p50 ms | p99 ms | mean ms | errors | WAL fsyncs/write (per member) | ms/fsync | etcd CPU | bench CPU | bench µs/op | other CPU |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.clients} | ${fmt(r.opsPerSec)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${fmt(r.meanMs, 2)} | ${r.errors} | ` +
        `${r.fsyncsPerWrite.map((x) => x.toFixed(2)).join(' / ')} | ${fmt(r.msPerFsync, 2)} | ` +
        `${fmt(r.etcdCpuPct)}% | ${fmt(r.benchCpuPct)}% | ${fmt(r.benchCpuMicrosPerOp)} | ${fmt(r.otherCpuPct)}% |`,
    );
  }
  for (const r of rows) if (r.firstError) lines.push(`${r.clients} clients: ${r.errors} errors, the first: ${r.firstError}`);
  lines.push(
    `CPU: % of one core over each run (warm-up included), of ${availableParallelism()} cores; etcd: its members together; ` +
      'bench: this process (the etcd3 client and the load driver); other: every other process on the machine.',
  );
  return lines.join('\n');
}

async function main() {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const durationMs = Number(option('duration') ?? 10) * 1_000;
  const warmupMs = Number(option('warmup') ?? 1) * 1_000;
  const clientCounts = (option('clients') ?? '1,64,256').split(',').map(Number);
  const instances = Number(option('instances') ?? 1);

  const t0 = performance.now();
  const rows = await benchEtcd({ clientCounts, durationMs, warmupMs, instances });
  const version = execFileSync('etcd', ['--version'], { encoding: 'utf8' }).match(/etcd Version: (\S+)/)?.[1] ?? '?';
  console.log(
    `etcd ${version}: 3 members on loopback (fsync on, data under ${tmpdir()}), 100-byte puts through etcd3 ` +
      `(${instances} client instance${instances === 1 ? '' : 's'}), ${durationMs / 1_000} s per run after ${warmupMs / 1_000} s warm-up, node ${process.version}`,
  );
  console.log('');
  console.log(formatEtcdTable(rows));
  if (!args.includes('--etcd-only')) {
    // The crash group under the same load: 3 replica processes over WebRTC with file storage (fsync on).
    const ours = await benchNetworkGroup({ faultModel: 'crash', clientCounts, durationMs, warmupMs, storage: 'file' });
    console.log('');
    console.log('statechorus crash group: 3 replica processes over WebRTC on loopback, file storage (fsync on), ~100-byte events, same load driver:');
    console.log('');
    console.log('| clients | etcd ops/s | statechorus ops/s | ratio (target >= 1.5 at 64, 256) | etcd p50 ms | statechorus p50 ms | p50 ratio (target <= 1 at 1 client) | statechorus p99 ms | errors |');
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of ours) {
      const e = rows.find((x) => x.clients === r.clients)!;
      console.log(
        `| ${r.clients} | ${fmt(e.opsPerSec)} | ${fmt(r.opsPerSec)} | ${(r.opsPerSec / e.opsPerSec).toFixed(2)} | ${fmt(e.p50Ms, 2)} | ${fmt(r.p50Ms, 2)} | ` +
          `${(r.p50Ms / e.p50Ms).toFixed(2)} | ${fmt(r.p99Ms, 2)} | ${r.errors} |`,
      );
    }
    const term = Math.max(...ours.map((r) => r.term));
    if (term !== 1) console.log(`note: the crash group changed leader during the runs (term ${term})`);
  }
  console.log(`total time: ${fmt((performance.now() - t0) / 1_000, 1)} s`);
}

const entry = process.argv[1];
if (entry && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
