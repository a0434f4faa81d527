import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_ID, CUSTOMER, setUpChannel, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let setup: ChannelSetup;

beforeAll(async () => {
  setup = await setUpChannel(database());
});
afterAll(() => setup.close());

const scrape = async () => {
  const response = await fetch(`${setup.publicUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
};
const value = (text: string, series: string) => Number(text.split('\n').find((line) => line.startsWith(`${series} `))?.split(' ')[1]);

describe('GET /metrics', () => {
  it('shows requests, the convergence gap per integration, upserts, passes and deliveries', async () => {
    // A counsellor writes before the channel is connected: the row waits.
    await setup.frontClient.message({ id: 'msg_m', channelId: CHANNEL_ID, text: 'hello', to: [CUSTOMER] });
    const service = 'front_signalwire_message_channel_app_v1';
    const labels = `{integration_id="${setup.channel.id}",service="${service}"}`;
    let text = await scrape();
    expect(value(text, `switchboard_pending_rows${labels}`)).toBe(1);
    expect(value(text, `switchboard_oldest_pending_seconds${labels}`)).toBeGreaterThanOrEqual(0);
    expect(value(text, `switchboard_http_requests_total{route="/v1/install/front_signalwire/channel",method="POST",status="200"}`)).toBeGreaterThanOrEqual(1);
    expect(value(text, `switchboard_upsert_duration_seconds_count{service="${service}"}`)).toBeGreaterThanOrEqual(1);

    await setup.frontClient.authorize(CHANNEL_ID);
    await setup.pass(await setup.reload(setup.channel));
    // The gap is read at most every few seconds (GAP_CACHE_MS in src/metrics.ts): a later read shows the delivery.
    await waitFor(async () => value((text = await scrape()), `switchboard_pending_rows${labels}`) === 0, { intervalMs: 500, what: 'the gap to close' });
    expect(value(text, `switchboard_deliveries_total{service="${service}",outcome="delivered"}`)).toBeGreaterThanOrEqual(1);
    expect(value(text, `switchboard_backfill_pass_duration_seconds_count{service="${service}",status="succeeded"}`)).toBeGreaterThanOrEqual(1);
    expect(text).toContain('\nprocess_resident_memory_bytes ');
    // Labels name services and routes, never people.
    expect(text).not.toContain(CUSTOMER.slice(1));
  });

  it('process metrics under their standard names; failed rows and the error state per integration', async () => {
    const sid = setup.signalwire.sent().find((m) => m.to === CUSTOMER)!.sid;
    await setup.signalwire.setStatus(sid, 'undelivered', { errorCode: '30003', errorMessage: 'Unreachable destination handset' });
    await setup.pass(setup.sw, { incremental: false });
    await setup.cli('integrations', 'update', String(setup.sw.id), '--api-token', 'rejected-token');
    await setup.pass(await setup.reload(setup.sw), { incremental: false }).catch(() => undefined);
    expect((await setup.reload(setup.sw)).last_error_code).toBe('SB_ERR_PROVIDER_AUTH');

    const channel = `{integration_id="${setup.channel.id}",service="front_signalwire_message_channel_app_v1"}`;
    const sw = `{integration_id="${setup.sw.id}",service="signalwire_message_v1"}`;
    let text = '';
    await waitFor(async () => value((text = await scrape()), `switchboard_integration_error${sw}`) === 1, { intervalMs: 500, what: 'the error to show' });
    expect(value(text, `switchboard_failed_rows${channel}`)).toBe(1);
    expect(value(text, `switchboard_integration_error${channel}`)).toBe(0);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).not.toContain('switchboard_process_');
    expect(text).not.toContain('switchboard_nodejs_');
  });
});
