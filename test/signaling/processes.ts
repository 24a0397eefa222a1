/**
 * Running the signaling server as users do, in child processes: a scratch package (the real
 * bin/statechorus.mjs next to signaling/ transpiled into dist/, as cli.test.ts does, so no
 * `npm run build` is needed), started with node or through npx; and what a test needs to
 * check that processes are gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const repo = fileURLToPath(new URL('../..', import.meta.url));

/** A package directory with package.json, bin/statechorus.mjs and dist/signaling/*.js. */
export function scratchPackage(prefix: string): { dir: string; bin: string; remove: () => void } {
  mkdirSync(join(repo, '.tmp'), { recursive: true });
  // Under the repo, so that `ws` and `ioredis` resolve from its node_modules.
  const dir = mkdtempSync(join(repo, '.tmp', prefix));
  const out = join(dir, 'dist', 'signaling');
  mkdirSync(out, { recursive: true });
  for (const file of readdirSync(join(repo, 'signaling')).filter((f) => f.endsWith('.ts'))) {
    const { outputText } = ts.transpileModule(readFileSync(join(repo, 'signaling', file), 'utf8'), {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, rewriteRelativeImportExtensions: true, verbatimModuleSyntax: true },
    });
    writeFileSync(join(out, file.replace(/\.ts$/, '.js')), outputText);
  }
  mkdirSync(join(dir, 'bin'));
  const bin = join(dir, 'bin', 'statechorus.mjs');
  copyFileSync(join(repo, 'bin', 'statechorus.mjs'), bin);
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'statechorus', version: pkg.version, type: 'module', bin: pkg.bin }, null, 2));
  return { dir, bin, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout match; rejects if the process exits first or after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

export function spawnProc(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; detached?: boolean } = {}): Proc {
  const child = spawn(command, args, {
    cwd: options.cwd ?? repo,
    env: { ...process.env, PORT: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const l of [...listeners]) l();
  });
  child.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    waitFor: (re, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no ${re} within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`));
        }, timeoutMs);
        const check = () => {
          const m = re.exec(out);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        listeners.add(check);
        check();
        void exit.then(({ code, signal }) => {
          if (listeners.delete(check)) {
            clearTimeout(timer);
            reject(new Error(`exited (${code ?? signal}) before printing ${re}; stdout: ${out}; stderr: ${err}`));
          }
        });
      }),
  };
}

/** Every process below `pid` (Linux /proc), deepest last. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** Whether a process exists (and is not a zombie waiting for its parent). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Polls `cond` until it holds; gives up after `timeoutMs` with `what()` describing what was seen. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const hasProc = existsSync('/proc/self/stat');
