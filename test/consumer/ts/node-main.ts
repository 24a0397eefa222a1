// The main entry under nodenext/node16 resolves the Node entry: fileStorage included.
import { createLocalCluster, fileStorage, startProcessGroup } from 'statechorus';
export const used = [createLocalCluster, fileStorage, startProcessGroup];
