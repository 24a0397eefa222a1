import { VOTE_TYPES, type Batch, type BatchItem, type BftMessage, type Evidence, type Proof } from './types.ts';
import { sessionProblem } from '../../src/app/clients.ts';

/**
 * Shape checks for decoded bytes before the protocol sees them. Never throw: a string is the
 * reason for the drop counter. Nested proofs come out as raw `{ p, s }`; `nestedProofs` lists
 * where they are and what they may contain, so the runtime verifies each before delivery.
 */

const MAX_LIST = 4096;

/** What a nested proof may contain: only votes, one view change, or an admin's reconfiguration. */
export type ProofContent = 'votes' | 'viewChange' | 'admin';

export function validateBundle(body: unknown, content: ProofContent | 'any' = 'any'): BftMessage[] | string {
  if (!Array.isArray(body) || body.length === 0 || body.length > MAX_LIST) return 'bundle is not a non-empty list';
  const out: BftMessage[] = [];
  for (const m of body) {
    const v = validateMessage(m);
    if (typeof v === 'string') return v;
    if (content === 'votes' && !VOTE_TYPES.has(v.type)) return `${v.type} inside a vote proof`;
    if (content === 'viewChange' && (v.type !== 'viewChange' || body.length !== 1)) return 'a view-change proof must hold one view change';
    if (content === 'admin' && (v.type !== 'reconfigure' || body.length !== 1)) return 'an admin proof must hold one reconfiguration';
    out.push(v);
  }
  // Messages whose proofs nest travel alone, which bounds the nesting depth.
  if (out.length > 1 && out.some((m) => !VOTE_TYPES.has(m.type))) return 'a message with proofs must travel alone';
  return out;
}

export function validateMessage(m: unknown): BftMessage | string {
  if (!isObject(m)) return 'message is not an object';
  switch (m.type) {
    case 'commit':
      if (m.exec !== undefined && !(isObject(m.exec) && isSeq(m.exec.seq) && isDigest(m.exec.digest))) return 'bad commit exec';
      return isCount(m.view) && isSeq(m.seq) && isDigest(m.digest) ? (m as BftMessage) : 'bad commit';
    case 'prePrepare':
    case 'prepare':
      return isCount(m.view) && isSeq(m.seq) && isDigest(m.digest) ? (m as BftMessage) : `bad ${m.type}`;
    case 'checkpoint':
      return isSeq(m.seq) && isDigest(m.digest) ? (m as BftMessage) : 'bad checkpoint';
    case 'status':
      return isCount(m.view) && isCount(m.executed) && isCount(m.stable) && typeof m.changing === 'boolean' ? (m as BftMessage) : 'bad status';
    case 'viewChange': {
      if (!isCount(m.view) || !isList(m.proofs) || !m.proofs.every(isProof)) return 'bad viewChange';
      const st = m.stable;
      if (!isObject(st) || !isCount(st.seq) || !isDigest(st.digest) || !isIndexList(st.cert, m.proofs.length)) return 'bad viewChange stable';
      if (!isList(m.prepared)) return 'bad viewChange prepared';
      for (const c of m.prepared) {
        if (!isObject(c) || !isSeq(c.seq) || !isCount(c.view) || !isDigest(c.digest) || !isIndex(c.prePrepare, m.proofs.length) || !isIndexList(c.prepares, m.proofs.length)) {
          return 'bad viewChange claim';
        }
      }
      return m as BftMessage;
    }
    case 'newView': {
      if (!isCount(m.view) || !isList(m.viewChanges) || !m.viewChanges.every(isProof) || !isList(m.prePrepares)) return 'bad newView';
      let prev = -1;
      for (const p of m.prePrepares) {
        if (!isObject(p) || !isSeq(p.seq) || !isDigest(p.digest) || p.seq <= prev) return 'bad newView pre-prepares';
        prev = p.seq;
      }
      return m as BftMessage;
    }
    case 'entries': {
      if (!isList(m.slots) || !isList(m.proofs) || !m.proofs.every(isProof)) return 'bad entries';
      for (const s of m.slots) {
        if (!isObject(s) || !isSeq(s.seq) || !isCount(s.view) || !isDigest(s.digest) || !isIndexList(s.commits, m.proofs.length)) return 'bad entries slot';
      }
      return m as BftMessage;
    }
    case 'stableCert':
      return isSeq(m.seq) && isDigest(m.digest) && isList(m.cert) && m.cert.every(isProof) ? (m as BftMessage) : 'bad stableCert';
    case 'relay':
      return isProof(m.proof) ? (m as BftMessage) : 'bad relay';
    case 'accuse':
      return isId(m.accused) && isEvidence(m.evidence) ? (m as BftMessage) : 'bad accuse';
    case 'fetchState':
      return isSeq(m.seq) && isDigest(m.digest) && isCount(m.offset) ? (m as BftMessage) : 'bad fetchState';
    case 'stateChunk':
      return isSeq(m.seq) && isDigest(m.digest) && isCount(m.offset) && isCount(m.total) && m.data instanceof Uint8Array && m.offset + m.data.length <= m.total
        ? (m as BftMessage)
        : 'bad stateChunk';
    case 'reconfigure': {
      if (!isCount(m.nonce) || !isObject(m.change)) return 'bad reconfigure';
      const c = m.change;
      if ('add' in c) return isObject(c.add) && isId(c.add.id) && c.add.key instanceof Uint8Array && c.add.key.length === 32 ? (m as BftMessage) : 'bad reconfigure add';
      return isId(c.remove) ? (m as BftMessage) : 'bad reconfigure';
    }
    default:
      return 'unknown message type';
  }
}

export function validateBatch(b: unknown): Batch | string {
  if (!isObject(b) || typeof b.time !== 'number' || !Number.isFinite(b.time) || !isList(b.items)) return 'bad batch';
  for (const item of b.items) {
    const problem = checkItem(item);
    if (problem) return problem;
  }
  return b as unknown as Batch;
}

function checkItem(i: unknown): string | null {
  if (!isObject(i)) return 'batch item is not an object';
  switch (i.k) {
    case 'req':
      return isId(i.client) && isCount(i.session) && isSeq(i.seq) && isObject(i.event) && typeof i.event.type === 'string' && sessionProblem(i.session, i.event) === null && (i.snapshot === undefined || i.snapshot === false) ? null : 'bad request item';
    case 'noop':
      return null;
    case 'read':
      return isId(i.client) && isCount(i.nonce) ? null : 'bad read item';
    case 'cfg':
      return isProof(i.cmd) ? null : 'bad cfg item';
    case 'evidence':
      return isId(i.accused) && isEvidence(i.proof) ? null : 'bad evidence item';
    default:
      return 'unknown batch item';
  }
}

/** Where the proofs nested in a message are, and what each may contain. */
export function nestedProofs(m: BftMessage): Array<{ proof: Proof; content: ProofContent }> {
  switch (m.type) {
    case 'viewChange':
    case 'entries':
      return m.proofs.map((proof) => ({ proof, content: 'votes' as const }));
    case 'newView':
      return m.viewChanges.map((proof) => ({ proof, content: 'viewChange' as const }));
    case 'stableCert':
      return m.cert.map((proof) => ({ proof, content: 'votes' as const }));
    case 'relay':
      return [{ proof: m.proof, content: 'votes' }];
    case 'accuse':
      return evidenceProofs(m.evidence);
    default:
      return [];
  }
}

export function batchProofs(b: Batch): Array<{ proof: Proof; content: ProofContent }> {
  const out: Array<{ proof: Proof; content: ProofContent }> = [];
  for (const item of b.items as BatchItem[]) {
    if (item.k === 'cfg') out.push({ proof: item.cmd, content: 'admin' });
    else if (item.k === 'evidence') out.push(...evidenceProofs(item.proof));
  }
  return out;
}

function evidenceProofs(e: Evidence): Array<{ proof: Proof; content: ProofContent }> {
  if (e.kind === 'equivocation') return [{ proof: e.a, content: 'votes' }, { proof: e.b, content: 'votes' }];
  return [{ proof: e.bad, content: 'votes' }, ...e.cert.map((proof) => ({ proof, content: 'votes' as const }))];
}

function isEvidence(e: unknown): e is Evidence {
  if (!isObject(e)) return false;
  if (e.kind === 'equivocation') return isProof(e.a) && isProof(e.b);
  if (e.kind === 'execution' && !isSeq(e.seq)) return false;
  return (e.kind === 'checkpoint' || e.kind === 'execution') && isProof(e.bad) && isList(e.cert) && e.cert.every(isProof);
}

function isProof(x: unknown): x is Proof {
  return isObject(x) && x.p instanceof Uint8Array && x.s instanceof Uint8Array && x.s.length === 64 && Object.keys(x).length === 2;
}

function isObject(x: unknown): x is Record<string, unknown> & { [k: string]: any } {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function isList(x: unknown): x is unknown[] {
  return Array.isArray(x) && x.length <= MAX_LIST;
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isSeq(x: unknown): x is number {
  return isCount(x) && x > 0;
}

function isIndex(x: unknown, n: number): boolean {
  return isCount(x) && x < n;
}

function isIndexList(x: unknown, n: number): boolean {
  return isList(x) && x.every((i) => isIndex(i, n));
}

function isDigest(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0 && x.length <= 128;
}

function isId(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0 && x.length <= 256;
}
