/** Tag bytes of the canonical format; the specification is at the top of encode.ts. */
export const TAG_NULL = 0x00;
export const TAG_FALSE = 0x01;
export const TAG_TRUE = 0x02;
export const TAG_UINT = 0x03;
export const TAG_NINT = 0x04;
export const TAG_FLOAT64 = 0x05;
export const TAG_BIGUINT = 0x06;
export const TAG_BIGNINT = 0x07;
export const TAG_STRING = 0x08;
export const TAG_BYTES = 0x09;
export const TAG_ARRAY = 0x0a;
export const TAG_OBJECT = 0x0b;
/** Hash input only (encodeNode): a child container by its 32-byte hash. Never in an encoding; decode rejects it. */
export const TAG_REF = 0x0c;

/** Plain data: what the codec encodes, and what decode returns. */
export type Plain =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Plain[]
  | { [key: string]: Plain | undefined };
