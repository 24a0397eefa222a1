/**
 * The codec: canonical bytes for protocol messages and application events. Signatures
 * cover these bytes and state digests hash them. Format and canonical rules: encode.ts.
 */
export type { Plain } from './format.ts';
export { CodecError, DEFAULT_MAX_DEPTH, DEFAULT_MAX_SIZE, formatPath, type CodecErrorCode, type CodecLimits } from './errors.ts';
export { encode, encodeNode, checkPlain, canonicalEqual } from './encode.ts';
export { decode, type DecodeResult } from './decode.ts';
export { ByteWriter, ByteReader, varintSize } from './bytes.ts';
export * as tags from './format.ts';
