import { bundleAbuse, nestedProofs, type BftCore, type BftMessage, type byzantineProtocolMachine, type Proof, type ProofContent, type VerifiedProof } from '../../../actors/byzantine/index.ts';
import { sha256Sync, toHex, verify } from '../../crypto/index.ts';
import { decodeTrusted } from '../common.ts';
import type { ReplicaHost } from '../host.ts';
import { implausible, othersFirst, peekProof } from '../peer-budget.ts';

/** The group admin's id: it signs reconfiguration commands, never bundles. */
export const ADMIN = 'admin';
/** Entries kept in the caches of checked signatures and of bundles just taken. */
export const VERIFIED_CACHE = 8192;

/**
 * The proofs a Byzantine replica is shown (bundles quoted inside messages, batches' client
 * requests, admin commands): shape and plausibility first, then the signature, checked once per
 * proof (a quoted bundle arrives again and again).
 */
export class ProofCheck {
  /** Signatures already checked (keyed by payload hash and signature). */
  readonly #verified = new Map<string, boolean>();

  constructor(
    private readonly host: ReplicaHost<typeof byzantineProtocolMachine>,
    private readonly core: () => BftCore,
  ) {}

  /**
   * Checks a proof quoted inside a message: its signature (cached), and that it decodes to a
   * signed protocol bundle holding what it may hold. Decorates it in place as a VerifiedProof.
   */
  async verify(proof: Proof, content: ProofContent): Promise<VerifiedProof | undefined> {
    const peeked = this.peek(proof, content);
    if (!peeked) return undefined;
    const { from: signer, messages } = peeked;
    if ((content === 'admin') !== (signer === ADMIN)) return undefined;
    const t = this.host.tuning;
    if (content === 'viewChange') {
      // A view change quoted by a new view: its shape and claims before any signature.
      const core = this.core();
      const vc = messages[0]!;
      const problem =
        bundleAbuse(messages, { signers: this.host.memberKeys.size, windowSize: t.windowSize }) ??
        implausible(vc, signer, { config: core.group, configFor: (seq) => core.configFor(seq), windowSize: t.windowSize, peek: (p) => this.peek(p, 'votes') });
      if (problem) return undefined;
    }
    const key = this.host.memberKeys.get(signer);
    if (!key) return undefined;
    const cacheKey = this.cacheKey(proof);
    let ok = this.#verified.get(cacheKey);
    if (ok === undefined) {
      this.host.metrics.verifications++;
      ok = await verify(key, proof.p, proof.s);
      // Anyone may send an admin command: its failures are not cached, or a flood of made-up
      // ones would push the members' checked proofs out of the cache.
      if (ok || content !== 'admin') this.remember(proof, ok, cacheKey);
    }
    if (!ok) return undefined;
    if (content === 'viewChange') {
      for (const m of messages) for (const inner of othersFirst(nestedProofs(m), signer, (p) => this.peek(p, 'votes'))) if (!(await this.verify(inner.proof, inner.content))) return undefined;
    }
    return asVerified(proof, signer, messages);
  }

  /** A quoted proof's signer and messages, decoded but not verified (for checks before verifying). */
  peek(proof: Proof, content: ProofContent): VerifiedProof | undefined {
    return peekProof(proof, content, this.host.tuning.maxMessageBytes);
  }

  cacheKey(proof: Proof): string {
    return toHex(proof.s) + toHex(sha256Sync(proof.p)).slice(0, 16);
  }

  /** Records a checked signature (our own bundles are recorded as good when signed). */
  remember(proof: Proof, ok: boolean, key = this.cacheKey(proof)): void {
    if (this.#verified.size >= VERIFIED_CACHE) this.#verified.delete(this.#verified.keys().next().value!);
    this.#verified.set(key, ok);
  }

  /** A proof from our own storage: decoded without checking the signature again. */
  trusted(p: Proof): VerifiedProof {
    const payload = decodeTrusted(p.p, 'proof') as { f: string; m: BftMessage[] };
    return asVerified(p, payload.f, payload.m);
  }
}

/** Marks a proof as verified: `from` and `messages` are not enumerable, so it still encodes as `{ p, s }`. */
export function asVerified(proof: Proof, from: string, messages: BftMessage[]): VerifiedProof {
  const v = proof as VerifiedProof;
  if ((v as Partial<VerifiedProof>).messages === undefined) {
    Object.defineProperty(v, 'from', { value: from, enumerable: false });
    Object.defineProperty(v, 'messages', { value: messages, enumerable: false });
  }
  return v;
}
