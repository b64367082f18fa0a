import type { QuotaStore } from './quota-store';

/** No Redis configured: nothing is counted; the access log says `quota: off`. */
export const noopQuotaStore: QuotaStore = {
  kind: 'none',
  limit: async () => ({
    status: 'unavailable',
    reason: 'no quota store configured',
    pending: Promise.resolve(),
  }),
};
