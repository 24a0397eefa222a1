/**
 * Parses Porcupine's key-value test logs (test_data/kv/*.txt: Jepsen-style EDN lines, one
 * `:invoke` and one `:ok` per operation, no timestamps) into a history for `kvModel`. Time is
 * the line number. Porcupine models an absent key as `''`; here it is `undefined`, so a get
 * that returned `""` becomes `undefined` (the logs never put an empty string). An invocation
 * with no `:ok` line stays pending.
 */
import type { KvInput, Operation } from '../../../src/check/index.ts';

const INVOKE = /^\{:process (\d+), :type :invoke, :f :(get|put|append), :key "(.*?)", :value (nil|"(.*)")\}$/;
const OK = /^\{:process (\d+), :type :ok, :f :(get|put|append), :key "(.*?)", :value (nil|"(.*)")\}$/;

export function parseKvLog(text: string): Operation<KvInput<string>, unknown>[] {
  const history: Operation<KvInput<string>, unknown>[] = [];
  const open = new Map<number, Operation<KvInput<string>, unknown>>();
  text.split('\n').forEach((line, t) => {
    if (line.trim() === '') return;
    let m = INVOKE.exec(line);
    if (m) {
      const client = Number(m[1]);
      if (open.has(client)) throw new Error(`line ${t + 1}: process ${client} invokes twice`);
      const [f, key, value] = [m[2]!, m[3]!, m[5] ?? ''];
      const input: KvInput<string> =
        f === 'get' ? { op: 'get', key } : { op: f as 'put' | 'append', key, value };
      const op: Operation<KvInput<string>, unknown> = { client, input, call: t };
      open.set(client, op);
      history.push(op);
      return;
    }
    m = OK.exec(line);
    if (!m) throw new Error(`line ${t + 1}: not an invoke or ok event: ${line}`);
    const op = open.get(Number(m[1]));
    if (op === undefined || op.input.op !== m[2]) throw new Error(`line ${t + 1}: ok without a matching invoke`);
    open.delete(Number(m[1]));
    op.return = t;
    op.output = op.input.op === 'get' ? (m[5] === '' || m[5] === undefined ? undefined : m[5]) : 'ok';
  });
  return history;
}
