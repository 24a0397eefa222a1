export { byzantineProtocolMachine, type BftEvent } from './machine.ts';
export { BftCore, NULL_BATCH, itemKey, nextBoundary, type BftInit, type Phase } from './core.ts';
export { checkEvidence, findConflict } from './evidence.ts';
export { faultsTolerated, quorumSize, weakQuorum, primaryOf, applyConfigCommand } from './quorum.ts';
export { checkViewChange, checkNewView, planNewView, checkCheckpointCert, GENESIS_DIGEST } from './view-change.ts';
export { validateBundle, validateMessage, validateBatch, nestedProofs, batchProofs, type ProofContent } from './validate.ts';
export * from './types.ts';
export { bundleAbuse, messageShape, maxBundleMessages, AnswerBudget, type ShapeLimits } from './budget.ts';
