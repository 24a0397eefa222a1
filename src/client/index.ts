export { Client, createClient, ClientTimeoutError, RequestRejectedError, type ClientOptions, type Outcome, type ReadOutcome, type AppSnapshot, type DissentRecord } from './client.ts';
