// A replica group as separate Node processes over real WebRTC on loopback, each with its own
// file storage, plus a signaling server process: for multi-process tests, the WebRTC benchmark
// and `npm start`. Kill and restart replicas with real signals; every process it starts is
// killed when the group stops or the parent exits.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBase64Url } from '../crypto/bytes.ts';
import { exportIdentity, generateIdentity, type Identity } from '../crypto/index.ts';
import { createClient, type Client, type ClientOptions } from '../client/index.ts';
import { faultModelOf } from '../fault-models/index.ts';
import type { ReplicaStatus, ReplicaTuning } from '../replica/types.ts';
import { resolveTuning, TUNING_RULES } from '../replica/tuning.ts';
import type { TransportStats } from '../transport/webrtc.ts';
import { webrtcTransport } from '../transport/node.ts';
import type { ReplicaProcessConfig } from './replica-process.ts';

export interface ProcessGroupOptions {
  faultModel: 'crash' | 'byzantine';
  /** Faults tolerated; n = 2f+1 (crash) or 3f+1 (byzantine). Default 1. */
  f?: number;
  /** An ES module (absolute path) and the name of the XState machine it exports. */
  machine: { module: string; export: string };
  /** Where replicas keep their files; a fresh temporary directory (removed on stop) by default. */
  dir?: string;
  /** An existing signaling server; by default the group starts its own. */
  signaling?: string;
  /** The port of the group's own signaling server (default: a free one). */
  signalingPort?: number;
  room?: string;
  tuning?: Partial<ReplicaTuning>;
  statusMs?: number;
  /** 'memory' to measure without the disk; default 'file'. */
  storage?: 'file' | 'memory';
}

export interface ReplicaReport {
  event: 'ready' | 'status';
  status: ReplicaStatus;
  transport: TransportStats;
  peers: string[];
  dropped: Record<string, number>;
  rssBytes: number;
  /** CPU time the process has used (user + system, µs). */
  cpuMicros: number;
}

/** One replica as `settle` saw it. */
export interface SettledReplica {
  id: string;
  running: boolean;
  /** The replica's phase ('leader', 'follower', …), 'killed' or 'starting' (no report from this process yet). */
  phase: string;
  /** Reported since `settle` was called. */
  fresh: boolean;
  appliedIndex: number | undefined;
  digest: string | undefined;
}

export interface SettleResult {
  settled: boolean;
  waitedMs: number;
  replicas: SettledReplica[];
}

interface Member {
  id: string;
  identity: Identity;
  config: string;
  child?: ChildProcess;
  last?: ReplicaReport;
  /** Reports received from any of its processes: tells a report received after some moment. */
  reports: number;
  exits: Array<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const here = fileURLToPath(new URL('.', import.meta.url));
/** Compiled entry points (this file runs from dist/ under Node). */
const REPLICA_ENTRY = join(here, 'replica-process.js');
const SIGNALING_ENTRY = join(here, 'signaling-process.js');

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Children also exit when their IPC channel closes; this covers a normal parent exit at once.
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

export class ProcessGroup {
  readonly ids: string[];
  readonly faultModel: 'crash' | 'byzantine';
  readonly room: string;
  signaling = '';
  readonly #members = new Map<string, Member>();
  readonly #options: ProcessGroupOptions;
  #dir = '';
  #ownDir = false;
  #signalingChild: ChildProcess | undefined;
  readonly #clients: Client[] = [];
  readonly #transports: Array<{ close(): Promise<void> }> = [];
  #stopped = false;
  readonly #listeners = new Set<() => void>();

  constructor(options: ProcessGroupOptions) {
    const f = options.f ?? 1;
    if (!Number.isInteger(f) || f < 0 || f > 10) throw new TypeError('startProcessGroup: `f` must be an integer from 0 to 10');
    const n = faultModelOf(options.faultModel, 'startProcessGroup').groupSize(f);
    // Refused here, before any process starts (each replica would refuse it at start).
    resolveTuning(options.tuning, 'startProcessGroup');
    if (options.statusMs !== undefined && !TUNING_RULES.statusMs.ok(options.statusMs)) throw new RangeError(`startProcessGroup: statusMs must be ${TUNING_RULES.statusMs.allowed}, got ${String(options.statusMs)}`);
    this.ids = Array.from({ length: n }, (_, i) => `r${i + 1}`);
    this.faultModel = options.faultModel;
    this.room = options.room ?? `group-${toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(6)))}`;
    this.#options = options;
  }

  /** The latest report of each replica (undefined until it has reported). */
  report(id: string): ReplicaReport | undefined {
    return this.#member(id).last;
  }

  /** Whether the replica's process is running. */
  isRunning(id: string): boolean {
    const child = this.#member(id).child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** How each process ended so far (code or signal), oldest first. */
  exits(id: string): ReadonlyArray<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.#member(id).exits;
  }

  get dir(): string {
    return this.#dir;
  }

  async start(): Promise<void> {
    this.#ownDir = this.#options.dir === undefined;
    this.#dir = this.#options.dir ?? (await mkdtemp(join(tmpdir(), 'statechorus-group-')));
    await mkdir(this.#dir, { recursive: true });
    try {
      this.signaling = this.#options.signaling ?? (await this.#startSignaling());
      const identities = await Promise.all(this.ids.map(() => generateIdentity()));
      const members = this.ids.map((id, i) => ({ id, publicKey: toBase64Url(identities[i]!.publicKey) }));
      for (const [i, id] of this.ids.entries()) {
        const config: ReplicaProcessConfig = {
          id,
          faultModel: this.faultModel,
          members,
          identity: exportIdentity(identities[i]!),
          signaling: this.signaling,
          room: this.room,
          dataDir: join(this.#dir, id),
          machine: this.#options.machine,
          ...(this.#options.tuning ? { tuning: this.#options.tuning } : {}),
          ...(this.#options.statusMs ? { statusMs: this.#options.statusMs } : {}),
          ...(this.#options.storage ? { storage: this.#options.storage } : {}),
        };
        const path = join(this.#dir, `${id}.json`);
        await writeFile(path, JSON.stringify(config));
        this.#members.set(id, { id, identity: identities[i]!, config: path, reports: 0, exits: [] });
      }
      await Promise.all(this.ids.map((id) => this.restart(id)));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Starts (again) a replica's process from its files; resolves when it reports ready. */
  async restart(id: string): Promise<void> {
    const m = this.#member(id);
    if (this.isRunning(id)) throw new Error(`${id} is running`);
    const child = fork(REPLICA_ENTRY, [m.config], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    track(child);
    m.child = child;
    // The previous process's last report describes a replica that no longer exists (it may say
    // `leader`): until the new process reports, there is no report.
    m.last = undefined;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('message', (msg: ReplicaReport) => {
      m.last = msg;
      m.reports++;
      for (const l of this.#listeners) l();
    });
    child.once('exit', (code, signal) => {
      m.exits.push({ code, signal });
      for (const l of this.#listeners) l();
    });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (msg: ReplicaReport) => {
        if (msg.event !== 'ready') return;
        child.off('exit', onExit);
        child.off('message', onMessage);
        resolve();
      };
      const onExit = (code: number | null, signal: string | null) => {
        child.off('message', onMessage);
        reject(new Error(`${id} exited before it was ready (code ${code}, signal ${signal})\n${stderr}`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }

  /** Kills a replica's process (SIGKILL by default: no chance to flush anything). */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#member(id).child;
    if (!child || !this.isRunning(id)) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  }

  /** A client in this process, over WebRTC, that trusts the group's member keys. */
  async createClient(options: Partial<Omit<ClientOptions, 'transport' | 'replicas' | 'id'>> = {}): Promise<Client> {
    const identity = await generateIdentity();
    const keys = new Map([...this.#members.values()].map((m) => [m.id, m.identity.publicKey]));
    const transport = webrtcTransport({ signaling: this.signaling, room: this.room, identity, peerKey: (id) => keys.get(id) });
    const client = createClient({ id: identity.id, transport, replicas: this.ids, faultModel: this.faultModel, ...options });
    this.#clients.push(client);
    return client;
  }

  /**
   * `count` clients in this process sharing one connection to each replica (endpoints of one
   * transport: `<id>/c1`, `<id>/c2`, ...): how a load generator runs hundreds of clients.
   */
  async createClients(count: number, options: Partial<Omit<ClientOptions, 'transport' | 'replicas' | 'id'>> = {}): Promise<Client[]> {
    const identity = await generateIdentity();
    const keys = new Map([...this.#members.values()].map((m) => [m.id, m.identity.publicKey]));
    const shared = webrtcTransport({ signaling: this.signaling, room: this.room, identity, peerKey: (id) => keys.get(id) });
    this.#transports.push(shared);
    const clients = Array.from({ length: count }, (_, i) => {
      const endpoint = shared.endpoint(`c${i + 1}`);
      return createClient({ id: endpoint.id, transport: endpoint, replicas: this.ids, faultModel: this.faultModel, ...options });
    });
    this.#clients.push(...clients);
    return clients;
  }

  /**
   * Waits until the group has settled: every running replica has reported since this call, all
   * at one applied index (at least `atLeast`, e.g. the highest index a client was acknowledged)
   * with one digest. Reports come from separate processes at different moments, so comparing the
   * latest ones without this can mix a state from before the last writes with one after them.
   * Never rejects: after `timeoutMs` it answers `settled: false` with what it saw.
   */
  async settle(options: { atLeast?: number; timeoutMs?: number } = {}): Promise<SettleResult> {
    const started = performance.now();
    const since = new Map(this.ids.map((id) => [id, this.#member(id).reports]));
    const seen = (): SettledReplica[] =>
      this.ids.map((id) => {
        const m = this.#member(id);
        const running = this.isRunning(id);
        const status = m.last?.status;
        const phase = !running ? 'killed' : status ? status.phase : 'starting';
        return { id, running, phase, fresh: running && m.reports > since.get(id)!, appliedIndex: status?.appliedIndex, digest: status?.digest };
      });
    const agreed = () => {
      const live = seen().filter((r) => r.running);
      const first = live[0];
      return (
        first !== undefined &&
        first.appliedIndex !== undefined &&
        first.appliedIndex >= (options.atLeast ?? 0) &&
        live.every((r) => r.fresh && r.appliedIndex === first.appliedIndex && r.digest === first.digest)
      );
    };
    const settled = await this.waitFor(agreed, options.timeoutMs ?? 30_000, 'the group to settle').then(
      () => true,
      () => false,
    );
    return { settled, waitedMs: performance.now() - started, replicas: seen() };
  }

  /** Resolves when `predicate` holds over the latest reports; rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.#listeners.delete(check);
        resolve();
      };
      this.#listeners.add(check);
    });
  }

  /** Stops clients, replicas (SIGTERM, then SIGKILL) and the signaling server; removes a temporary dir. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const c of this.#clients) c.close();
    await Promise.all(this.#transports.map((t) => t.close()));
    const children = [...this.#members.values()].map((m) => m.child).filter((c): c is ChildProcess => c !== undefined);
    if (this.#signalingChild) children.push(this.#signalingChild);
    await Promise.all(children.map((c) => stopChild(c)));
    if (this.#ownDir) await rm(this.#dir, { recursive: true, force: true });
  }

  #member(id: string): Member {
    const m = this.#members.get(id);
    if (!m) throw new TypeError(`no replica ${id} in this group (${this.ids.join(', ')})`);
    return m;
  }

  async #startSignaling(): Promise<string> {
    const env = { ...process.env, SIGNALING_PORT: String(this.#options.signalingPort ?? 0) };
    const child = fork(SIGNALING_ENTRY, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env });
    track(child);
    this.#signalingChild = child;
    return new Promise<string>((resolve, reject) => {
      child.once('message', (msg: { url?: string; error?: string }) => (msg.url ? resolve(msg.url) : reject(new Error(msg.error ?? 'signaling server failed'))));
      child.once('exit', (code) => reject(new Error(`signaling server exited (code ${code})`)));
    });
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startProcessGroup(options: ProcessGroupOptions): Promise<ProcessGroup> {
  const group = new ProcessGroup(options);
  await group.start();
  return group;
}
