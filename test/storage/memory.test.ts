import { memoryStorage } from '../../src/storage/index.ts';
import { describeStorageContract } from './contract.ts';

describeStorageContract('memoryStorage', { open: async () => memoryStorage() });
