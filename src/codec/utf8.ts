/**
 * Strict UTF-8 in plain JS. Short strings (the common case: keys, event types, ids) are
 * faster by hand than through TextEncoder/TextDecoder, whose per-call overhead dominates;
 * long strings go to the platform codecs.
 */

const encoder = new TextEncoder();
// fatal: reject malformed input instead of inserting U+FFFD; ignoreBOM: keep a leading
// U+FEFF, otherwise a string starting with it would not round trip.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type WellFormed = (this: string) => boolean;
const nativeIsWellFormed = (String.prototype as { isWellFormed?: WellFormed }).isWellFormed;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** False when the string holds a lone surrogate, which UTF-8 cannot represent. */
export function isWellFormed(s: string): boolean {
  return nativeIsWellFormed !== undefined ? nativeIsWellFormed.call(s) : !LONE_SURROGATE.test(s);
}

/** Up to this many bytes, decoding by hand beats TextDecoder (measured on Node 20). */
const SHORT_DECODE = 24;

/**
 * Writes `s` as UTF-8 at `pos` (the caller reserved 3 bytes per UTF-16 unit) and returns
 * the end position, or -1 if `s` contains a lone surrogate. For short strings: beyond
 * about 32 units TextEncoder.encodeInto is faster (measured on Node 20).
 */
export function utf8Write(s: string, buf: Uint8Array, pos: number): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[pos++] = c;
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else {
      if (c > 0xdbff || i + 1 >= n) return -1;
      const d = s.charCodeAt(i + 1);
      if (d < 0xdc00 || d > 0xdfff) return -1;
      i++;
      const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      buf[pos++] = 0xf0 | (cp >> 18);
      buf[pos++] = 0x80 | ((cp >> 12) & 0x3f);
      buf[pos++] = 0x80 | ((cp >> 6) & 0x3f);
      buf[pos++] = 0x80 | (cp & 0x3f);
    }
  }
  return pos;
}

/** Long-string path: TextEncoder after a well-formedness check (encodeInto would silently write U+FFFD). */
export function utf8WriteLong(s: string, buf: Uint8Array, pos: number): number {
  if (!isWellFormed(s)) return -1;
  return pos + encoder.encodeInto(s, buf.subarray(pos)).written;
}

const fromCharCode = String.fromCharCode;

/**
 * Strictly decodes `buf[pos, end)` (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF); returns null on malformed input.
 */
export function utf8Read(buf: Uint8Array, pos: number, end: number): string | null {
  if (end - pos > SHORT_DECODE) {
    try {
      return decoder.decode(buf.subarray(pos, end));
    } catch {
      return null;
    }
  }
  // ASCII, the common case, is built a few characters per call
  let ascii = pos;
  while (ascii < end && buf[ascii]! < 0x80) ascii++;
  if (ascii === end) return asciiString(buf, pos, end);
  let out = '';
  while (pos < end) {
    const b0 = buf[pos++]!;
    if (b0 < 0x80) {
      out += fromCharCode(b0);
      continue;
    }
    if (b0 < 0xc2) return null; // continuation byte or overlong 2-byte lead
    if (b0 < 0xe0) {
      if (pos >= end) return null;
      const b1 = buf[pos++]!;
      if ((b1 & 0xc0) !== 0x80) return null;
      out += fromCharCode(((b0 & 0x1f) << 6) | (b1 & 0x3f));
      continue;
    }
    if (b0 < 0xf0) {
      if (pos + 1 >= end) return null;
      const b1 = buf[pos++]!;
      const b2 = buf[pos++]!;
      // E0 needs A0..BF (else overlong); ED needs 80..9F (else a surrogate)
      const lo = b0 === 0xe0 ? 0xa0 : 0x80;
      const hi = b0 === 0xed ? 0x9f : 0xbf;
      if (b1 < lo || b1 > hi || (b2 & 0xc0) !== 0x80) return null;
      out += fromCharCode(((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f));
      continue;
    }
    if (b0 > 0xf4 || pos + 2 >= end) return null;
    const b1 = buf[pos++]!;
    const b2 = buf[pos++]!;
    const b3 = buf[pos++]!;
    // F0 needs 90..BF (else overlong); F4 needs 80..8F (else above U+10FFFF)
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    if (b1 < lo || b1 > hi || (b2 & 0xc0) !== 0x80 || (b3 & 0xc0) !== 0x80) return null;
    const cp = (((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f)) - 0x10000;
    out += fromCharCode(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
  }
  return out;
}

function asciiString(buf: Uint8Array, pos: number, end: number): string {
  let out = '';
  while (end - pos >= 4) {
    out += fromCharCode(buf[pos]!, buf[pos + 1]!, buf[pos + 2]!, buf[pos + 3]!);
    pos += 4;
  }
  while (pos < end) out += fromCharCode(buf[pos++]!);
  return out;
}
