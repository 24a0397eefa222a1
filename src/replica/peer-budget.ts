/**
 * The Byzantine runtime's side of the per-peer budgets (the protocol's side is
 * actors/byzantine/budget.ts): cheap plausibility checks of the proofs a message quotes,
 * done on their decoded payloads before any signature is verified, and the budget of state
 * chunks served to one peer.
 */
import { checkViewChange, validateBundle, type BftMessage, type Config, type Proof, type ProofContent, type VerifiedProof } from '../../actors/byzantine/index.ts';
import { decode } from '../codec/index.ts';

/** A proof's signer and messages, decoded and shape-checked but NOT verified (a fresh object: the proof itself is not marked verified). */
export function peekProof(proof: Proof, content: ProofContent, maxBytes: number): VerifiedProof | undefined {
  const d = decode(proof.p, { maxSize: maxBytes });
  if (!d.ok) return undefined;
  const payload = d.value as { f?: unknown; k?: unknown; m?: unknown } | null;
  if (!payload || typeof payload !== 'object' || typeof payload.f !== 'string' || payload.k !== 'protocol') return undefined;
  const messages = validateBundle(payload.m, content);
  if (typeof messages === 'string') return undefined;
  return { p: proof.p, s: proof.s, from: payload.f, messages };
}

export interface PlausibleContext {
  config: Config;
  configFor(seq: number): Config;
  windowSize: number;
  peek(proof: Proof): VerifiedProof | undefined;
}

/**
 * Whether a message's quoted proofs could hold, judged by who claims to have signed them:
 * a view change must pass the full check with its signers taken at their word, and every
 * commit certificate must name distinct signers. A message that fails is refused before a single
 * quoted signature is verified; one that passes costs at most one verification per signer
 * and slot, and a forger's claim fails at its first false signature.
 */
export function implausible(m: BftMessage, sender: string, ctx: PlausibleContext): string | null {
  if (m.type === 'viewChange') {
    const proofs: VerifiedProof[] = [];
    for (const p of m.proofs) {
      const v = ctx.peek(p);
      if (!v) return 'view change: undecodable proof';
      proofs.push(v);
    }
    const problem = checkViewChange({ ...m, proofs }, sender, ctx.config, ctx.windowSize, ctx.configFor);
    return problem ? `view change: ${problem}` : null;
  }
  if (m.type === 'entries') {
    for (const s of m.slots) if (!distinctSigners(s.commits.map((i) => m.proofs[i]!), ctx)) return `entries: seq ${s.seq} certificate repeats a signer`;
    return null;
  }
  return null;
}

function distinctSigners(proofs: Proof[], ctx: PlausibleContext): boolean {
  const seen = new Set<string>();
  for (const p of proofs) {
    const v = ctx.peek(p);
    if (!v || seen.has(v.from)) return false;
    seen.add(v.from);
  }
  return true;
}

/**
 * Verification order for quoted proofs: those claimed by others than the sender first. They
 * are either quotes of real votes (usually verified already, so cached) or forgeries, which
 * fail at once; the sender's own distinct proofs, which always verify, come last.
 */
export function othersFirst<T extends { proof: Proof }>(items: T[], sender: string, peek: (p: Proof) => VerifiedProof | undefined): T[] {
  const others: T[] = [];
  const own: T[] = [];
  for (const it of items) (peek(it.proof)?.from === sender ? own : others).push(it);
  return [...others, ...own];
}

/**
 * State chunks served to one peer: `burst` per interval at once; a demand beyond waits, the
 * latest one per peer, until the budget refills (a correct replica asks for one chunk at a
 * time and waits for it, so a second demand while one waits is a flood).
 */
export class ServeBudget<T> {
  readonly #peers = new Map<string, { tokens: number; since: number; pending: T | undefined }>();

  constructor(
    readonly burst: number,
    readonly intervalMs: number,
  ) {}

  take(peer: string, demand: T, now: number): 'now' | 'later' | 'flood' {
    const p = this.#refill(peer, now);
    if (p.tokens > 0 && p.pending === undefined) {
      p.tokens--;
      return 'now';
    }
    const flood = p.pending !== undefined;
    p.pending = demand;
    return flood ? 'flood' : 'later';
  }

  /** Waiting demands whose peer's budget has refilled, taken out to be served now. */
  due(now: number): Array<{ peer: string; demand: T }> {
    const out: Array<{ peer: string; demand: T }> = [];
    for (const [peer, p] of this.#peers) {
      if (p.pending === undefined) continue;
      this.#refill(peer, now);
      if (p.tokens === 0) continue;
      p.tokens--;
      out.push({ peer, demand: p.pending });
      p.pending = undefined;
    }
    return out;
  }

  #refill(peer: string, now: number): { tokens: number; since: number; pending: T | undefined } {
    let p = this.#peers.get(peer);
    if (!p) this.#peers.set(peer, (p = { tokens: this.burst, since: now, pending: undefined }));
    else if (now - p.since >= this.intervalMs) {
      p.tokens = this.burst;
      p.since = now;
    }
    return p;
  }
}
