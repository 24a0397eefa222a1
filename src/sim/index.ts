export { Prng, hashString } from './prng.ts';
export { VirtualClock, SimulationError, yieldToHost, untilSettledOrDead, type TaskOwner } from './clock.ts';
export { SimNetwork, DEFAULT_LINK, sampleLatency, type Latency, type LinkConfig, type Endpoint, type NetworkStats, type DeliverFn } from './network.ts';
export { Trace, hashBytes, type TraceKind, type TraceRecord } from './trace.ts';
export { Simulation, type NodeEnv, type NodeStarter, type SimulationOptions } from './simulation.ts';
export { withSeed, seedsToRun, SeededFailure } from './seeds.ts';
export { SimulatedTransport } from './transport.ts';
