import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS module of the browser demo (no types)
import { startDemoServer } from '../../demo/server.mjs';

const key = (n: number) => `${'A'.repeat(42)}${'ABCDEFGHIJ'[n]}`;
let server: { url: string; close(): Promise<void> };

beforeAll(async () => {
  server = await startDemoServer({ port: 0, signaling: 'ws://127.0.0.1:9' });
});
afterAll(() => server.close());

const join = (room: string, body: unknown) =>
  fetch(`${server.url}/api/rooms/${room}/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('demo server: the lobby that seats four tabs', () => {
  it('seats keys in order, gives a returning key its seat back, and refuses a fifth', async () => {
    const seats = [];
    for (let i = 0; i < 4; i++) seats.push(await (await join('lobby-a', { key: key(i) })).json());
    expect(seats.map((s) => s.seat)).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(seats[3]).toMatchObject({ full: true, size: 4 });
    expect(seats[3].members).toEqual([0, 1, 2, 3].map((i) => ({ id: `r${i + 1}`, key: key(i) })));
    expect(await (await join('lobby-a', { key: key(2) })).json()).toMatchObject({ seat: 'r3', full: true });
    const fifth = await join('lobby-a', { key: key(4) });
    expect(fifth.status).toBe(409);
    expect((await fifth.json()).error).toMatch(/already has its 4 players/);
    const view = await (await fetch(`${server.url}/api/rooms/lobby-a`)).json();
    expect(view.members).toHaveLength(4);
    expect(await (await fetch(`${server.url}/api/config`)).json()).toMatchObject({ signaling: 'ws://127.0.0.1:9' });
  });

  it('answers bad input with a clear error', async () => {
    expect((await join('lobby-b', { key: 'short' })).status).toBe(400);
    expect((await join('lobby-b', 'not json')).status).toBe(400);
    expect((await join('Bad_Room', { key: key(0) })).status).toBe(400);
    expect((await join('lobby-b', { key: key(0), pad: 'x'.repeat(5_000) })).status).toBe(413);
    expect((await fetch(`${server.url}/api/rooms/lobby-b/join`)).status).toBe(405);
    expect((await fetch(`${server.url}/api/nothing`)).status).toBe(404);
    // The room stayed empty.
    expect((await (await fetch(`${server.url}/api/rooms/lobby-b`)).json()).members).toEqual([]);
  });

  it('serves demo/ and nothing outside it', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Four in a row');
    expect((await fetch(`${server.url}/game.js`)).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${server.url}/..%2Fpackage.json`)).status).toBe(403);
    expect((await fetch(`${server.url}/missing.js`)).status).toBe(404);
  });
});
