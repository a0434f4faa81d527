/**
 * Measures latency on the simulators, one message at a time:
 * SMS → Front (signed SignalWire webhook in → message in the simulated Front inbox),
 * Front → SMS (signed Front `message` in → SMS received by the simulated SignalWire),
 * WhatsApp → Front (signed Meta webhook in → message in the Front inbox), Front → WhatsApp
 * (signed Front `message` in → message received by the simulated Graph API),
 * USSD hops (gateway request → answer, Africa's Talking format, dial then one answer), and a
 * chatbot handoff on the RapidPro simulator: bot → Front (the flow's `POST chat/` → message in
 * the simulated Front inbox) and Front → bot (signed Front `message` → message sent through
 * the simulated RapidPro).
 * Prints median, p90, p99 and worst of N (default 100). Runs on its own database
 * (src/demo/environment.ts), never the user's.
 *
 *   npm run latency [-- 200]
 */
import path from 'node:path';
import { DEMO_SUPPORT, SMS_CHANNEL_ID, startDemoEnvironment, WHATSAPP_CHANNEL_ID } from '../src/demo/environment.ts';
import { CHATBOT_CHANNEL_ID, startDemoChatbot } from '../src/demo/chatbot.ts';
import { createLogger } from '../src/log.ts';
import { dial } from '../src/simulators/ussd.ts';

const COUNT = Number(process.argv[2] ?? 100);
const CUSTOMER = '+15550002222';

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 1));
}

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
  return `${label.padEnd(17)} n=${sorted.length}  median ${at(0.5)} ms  p90 ${at(0.9)} ms  p99 ${at(0.99)} ms  worst ${sorted.at(-1)!.toFixed(1)} ms`;
}

/** COUNT samples, one message at a time: from `send` until `arrived` (a count at the receiving simulator) grows by one. */
async function measure(arrived: () => number, send: (i: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < COUNT; i++) {
    const started = performance.now();
    const expected = arrived() + 1;
    await send(i);
    await until(() => arrived() >= expected);
    samples.push(performance.now() - started);
  }
  return samples;
}

const env = await startDemoEnvironment({ name: 'latency', dataDir: path.resolve('.switchboard'), log: createLogger(process.env.LOG_LEVEL ?? 'warn'), whatsapp: true, whatsappFlow: false });
try {
  const whatsapp = env.whatsapp;
  const whatsappChannel = env.whatsappChannel!;
  const smsToFront = await measure(() => env.front.inbox.length, (i) => env.signalwire.receiveInbound({ from: CUSTOMER, to: DEMO_SUPPORT, body: `inbound ${i}` }, env.signalwireHook));
  const frontToSms = await measure(() => env.signalwire.sent().length, (i) => env.smsChannel.message({ id: `msg_lat${i}`, channelId: SMS_CHANNEL_ID, text: `reply ${i}`, to: [CUSTOMER] }));
  const whatsappToFront = await measure(
    () => env.front.inbox.length,
    (i) => whatsapp.receiveInbound({ from: CUSTOMER.slice(1), type: 'text', fields: { text: { body: `whatsapp ${i}` } } }, env.whatsappHook),
  );
  const frontToWhatsApp = await measure(
    () => whatsapp.sent().length,
    (i) => whatsappChannel.message({ id: `msg_walat${i}`, channelId: WHATSAPP_CHANNEL_ID, text: `reply ${i}`, to: [CUSTOMER] }),
  );
  const ussdHops: number[] = [];
  for (let i = 0; i < COUNT / 2; i++) {
    let started = performance.now();
    const { session } = await dial(`${env.publicUrl}/v1/ussd/africastalking/${env.ussd.opaque_id}`, { gateway: 'africastalking', msisdn: `+2332412${String(i).padStart(5, '0')}` });
    ussdHops.push(performance.now() - started);
    started = performance.now();
    await session.send('1');
    ussdHops.push(performance.now() - started);
  }
  const chatbot = await chatbotLatency();
  console.log(summary('SMS → Front', smsToFront));
  console.log(summary('Front → SMS', frontToSms));
  console.log(summary('WhatsApp → Front', whatsappToFront));
  console.log(summary('Front → WhatsApp', frontToWhatsApp));
  console.log(summary('USSD hop', ussdHops));
  console.log(summary('bot → Front', chatbot.botToFront));
  console.log(summary('Front → bot', chatbot.frontToBot));
} finally {
  await env.close();
}

/** A chatbot handoff on the RapidPro simulator (src/demo/chatbot.ts), measured one message at a time each way. */
async function chatbotLatency(): Promise<{ botToFront: number[]; frontToBot: number[] }> {
  const { rapidpro, bot, front, close } = await startDemoChatbot(env);
  try {
    const contact = rapidpro.addContact({ urn: 'telegram:1000' }).uuid;
    const botToFront: number[] = [];
    for (let i = 0; i < COUNT; i++) {
      const started = performance.now();
      const expected = env.front.inbox.length + 1;
      await bot.say({ contact, session: 'latency', text: `client ${i}` });
      await until(() => env.front.inbox.length >= expected);
      botToFront.push(performance.now() - started);
    }
    const frontToBot: number[] = [];
    for (let i = 0; i < COUNT; i++) {
      const started = performance.now();
      const expected = rapidpro.sent().length + 1;
      await front.message({ id: `msg_cb${i}`, channelId: CHATBOT_CHANNEL_ID, text: `counsellor ${i}`, to: ['latency#1'] });
      await until(() => rapidpro.sent().length >= expected);
      frontToBot.push(performance.now() - started);
    }
    return { botToFront, frontToBot };
  } finally {
    await close();
  }
}
