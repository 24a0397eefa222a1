// @vitest-environment happy-dom
/**
 * A React component renders a replicated machine with @xstate/react's useSelector over
 * client.actor: the first render shows the machine's initial state (not yet agreed), each
 * later render a voted state.
 */
import { describe, expect, it } from 'vitest';
import { createElement, act } from 'react';
import { createRoot } from 'react-dom/client';
import { useSelector } from '@xstate/react';
import { createLocalCluster, type ClusterClient } from '../../src/index.ts';
import { counter } from '../fixtures/machines.ts';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

for (const faultModel of ['crash', 'byzantine'] as const) {
  describe(`${faultModel}: useSelector over client.actor`, () => {
    it('renders the initial state, then each voted state', async () => {
      const cluster = await createLocalCluster({ machine: counter, faultModel, f: 1, seed: 12 });
      const renders: Array<{ count: number; agreed: boolean }> = [];
      function Count({ client }: { client: ClusterClient }) {
        const count = useSelector(client.actor, (s) => (s.context as { count: number }).count);
        const agreed = useSelector(client.actor, (s) => s.agreed);
        renders.push({ count, agreed });
        return createElement('output', null, String(count));
      }
      const el = document.createElement('div');
      const root = createRoot(el);
      try {
        const client = cluster.createClient();
        await act(async () => root.render(createElement(Count, { client })));
        expect(el.textContent).toBe('0');
        expect(renders[0]).toEqual({ count: 0, agreed: false });
        for (let i = 1; i <= 3; i++) {
          let out: Awaited<ReturnType<typeof client.send>> | undefined;
          await act(async () => {
            out = await client.send({ type: 'INC' });
          });
          expect(el.textContent).toBe(String((out!.snapshot.context as { count: number }).count));
          expect(renders.at(-1)).toEqual({ count: i, agreed: true });
        }
        expect(renders.filter((r) => r.agreed).every((r, i, all) => i === 0 || r.count >= all[i - 1]!.count)).toBe(true);
      } finally {
        await act(async () => root.unmount());
        await cluster.stop();
      }
    });
  });
}
