/**
 * `statechorus <command>` on Node (bin/statechorus.mjs calls `main` for every command but
 * `signal`, which runs dist/signaling/cli.js as before). Resolves with the exit code; a command
 * that keeps running (replica) keeps the process alive until a signal stops it.
 */
import { usage as signalUsage } from '../../signaling/args.ts';
import { message, stdio, UsageError, type CliIo } from './args.ts';
import { clientUsage } from './client.ts';
import { initUsage } from './init.ts';
import { membersUsage } from './members.ts';
import { replicaUsage } from './replica.ts';

type Command = (argv: readonly string[], io: CliIo) => Promise<number>;

// Loaded on demand: `init` needs no WebRTC binding.
const COMMANDS: Record<string, () => Promise<Command>> = {
  init: async () => (await import('./init.ts')).init,
  replica: async () => (await import('./replica.ts')).replica,
  send: async () => (await import('./client.ts')).send,
  read: async () => (await import('./client.ts')).read,
  status: async () => (await import('./client.ts')).status,
  'add-member': async () => (await import('./members.ts')).addMember,
  'remove-member': async () => (await import('./members.ts')).removeMember,
};

export function usage(): string {
  return `${signalUsage().trimEnd()}

Commands for a group (run "statechorus COMMAND --help"):
${[initUsage, replicaUsage, clientUsage, membersUsage].join('\n')}
`;
}

export async function main(argv: readonly string[] = process.argv.slice(2), io: CliIo = stdio): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    io.out(usage().trimEnd());
    return command === undefined ? 1 : 0;
  }
  const load = COMMANDS[command];
  try {
    if (!load) throw new UsageError(`unknown command ${JSON.stringify(command)} (expected signal, ${Object.keys(COMMANDS).join(', ')})`);
    return await (await load())(rest, io);
  } catch (e) {
    io.err(`statechorus ${load ? command + ': ' : ''}${message(e).replace(new RegExp(`^${command}: `), '')}`);
    if (e instanceof UsageError) io.err(`Run "statechorus ${load ? command + ' ' : ''}--help" for usage.`);
    process.exitCode = 1;
    return 1;
  }
}
