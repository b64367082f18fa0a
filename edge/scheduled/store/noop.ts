import type { MonitorStore } from './interface';

/**
 * No Redis configured: nothing is kept, every lock is granted. The jobs check `kind` and say in
 * their log (and the health alerts) that they run without history.
 */
export const noopMonitorStore: MonitorStore = {
  kind: 'none',
  claim: async () => true,
  release: async () => {},
  get: async () => null,
  write: async () => {},
  list: async () => [],
};
