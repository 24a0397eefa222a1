export { ClusterHaltedError, LocalCluster, createLocalCluster, type LocalClusterOptions, type ClusterReplica, type ClusterClient } from './local.ts';
