/**
 * A worker killed (SIGKILL) in the middle of sending SMS, three times, restarted each
 * time: every SMS is sent exactly once — sends whose answer never came are found in
 * SignalWire and adopted, not resent — and a restarted worker resumes at once.
 * (`npm run soak`: 20 kills during a 1,000-message drain.)
 */
import { describe, expect, it } from 'vitest';
import { crashDrain } from '../helpers/reliability.ts';
import { useChannel } from '../helpers/use-channel.ts';

const { setup } = useChannel();
const MESSAGES = 60;

describe('a worker killed mid-drain', () => {
  it('never sends an SMS twice and loses none', { timeout: 120_000 }, async () => {
    const result = await crashDrain(setup(), { messages: MESSAGES, rounds: 3 });
    expect(result).toMatchObject({ messages: MESSAGES, duplicates: 0, lost: 0, faultsInjected: 3, lastWorkerExit: 0 });
    const sent = setup().signalwire.sent();
    expect(new Set(sent.map((m) => m.to)).size).toBe(MESSAGES);
    expect((await setup().rows()).map((r) => r.signalwire_sid).sort()).toEqual(sent.map((m) => m.sid).sort());
    // The kills did land between a send and its write-back: those were looked up, not resent.
    expect(result.lookupsAfterUnknownOutcome).toBeGreaterThan(0);
    expect(setup().signalwire.requests.filter((r) => r.method === 'POST')).toHaveLength(MESSAGES);
  });
});
