// One replica as its own Node process, on the WebRTC transport and file storage: the unit the
// process group (process-group.ts) starts, kills and restarts. Configured by a JSON file
// (ReplicaProcessConfig); reports its status to the parent over the IPC channel and exits when
// the parent goes away, so no replica outlives the program that started it.
import { pathToFileURL } from 'node:url';
import type { AnyStateMachine } from 'xstate';
import { readFile } from 'node:fs/promises';
import { fromBase64Url } from '../crypto/bytes.ts';
import { importIdentity } from '../crypto/index.ts';
import { createReplica } from '../replica/index.ts';
import type { ReplicaTuning } from '../replica/types.ts';
import { fileStorage } from '../storage/file.ts';
import { memoryStorage } from '../storage/index.ts';
import { webrtcTransport } from '../transport/node.ts';

export interface ReplicaProcessConfig {
  id: string;
  faultModel: 'crash' | 'byzantine';
  /** The group's members, public keys base64url. */
  members: Array<{ id: string; publicKey: string }>;
  /** Byzantine: the admin's public key, base64url. */
  admin?: string;
  /** This replica's identity (exportIdentity's output). */
  identity: { publicKey: string; seed: string };
  signaling: string | string[];
  room: string;
  dataDir: string;
  /** 'memory' keeps nothing across restarts (for measuring what the disk costs). Default 'file'. */
  storage?: 'file' | 'memory';
  /** An ES module and the name of the machine it exports. */
  machine: { module: string; export: string };
  tuning?: Partial<ReplicaTuning>;
  iceServers?: RTCIceServer[];
  /** Status report period (ms); default 250. */
  statusMs?: number;
}

export async function runReplicaProcess(configPath: string): Promise<void> {
  // Until the replica runs, losing the parent or a signal just ends the process.
  let stop: (code: number) => void | Promise<void> = (code) => process.exit(code);
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.on('disconnect', () => void stop(0));
  const config = JSON.parse(await readFile(configPath, 'utf8')) as ReplicaProcessConfig;
  const mod = (await import(pathToFileURL(config.machine.module).href)) as Record<string, unknown>;
  const machine = mod[config.machine.export] as AnyStateMachine | undefined;
  if (!machine) throw new Error(`${config.machine.module} exports no machine named ${config.machine.export}`);
  const identity = await importIdentity(config.identity);
  const transport = webrtcTransport({ signaling: config.signaling, room: config.room, ...(config.iceServers ? { iceServers: config.iceServers } : {}) });
  const storage = config.storage === 'memory' ? memoryStorage() : fileStorage(config.dataDir);
  const replica = createReplica({
    machine,
    identity,
    id: config.id,
    group: {
      faultModel: config.faultModel,
      members: config.members.map((m) => ({ id: m.id, publicKey: fromBase64Url(m.publicKey) })),
      ...(config.admin ? { admin: fromBase64Url(config.admin) } : {}),
    },
    transport,
    storage,
    ...(config.tuning ? { tuning: config.tuning } : {}),
  });
  const report = (event: string) => {
    if (!process.connected) return;
    const status = replica.status();
    const cpu = process.cpuUsage();
    process.send?.({ event, status, transport: transport.stats(), peers: transport.connectedPeers(), dropped: replica.metrics.dropped, rssBytes: process.memoryUsage.rss(), cpuMicros: cpu.user + cpu.system });
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopping = false;
  stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    // A stop that hangs (a stuck write) must not keep the process: exit anyway.
    setTimeout(() => process.exit(code), 3_000).unref();
    await replica.stop().catch(() => {});
    await storage.close().catch(() => {});
    process.exit(code);
  };
  await replica.start();
  if (!process.connected) return void stop(0); // the parent left while we started
  report('ready');
  timer = setInterval(() => {
    report('status');
    if (!replica.status().running) void stop(3);
  }, config.statusMs ?? 250);
}

// Entry point: node dist/src/cluster/replica-process.js <config.json>
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runReplicaProcess(process.argv[2] ?? '').catch((err: unknown) => {
    process.stderr.write(`replica process failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
