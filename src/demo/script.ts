/**
 * The demo's scripted conversation, played against a DemoEnvironment: an SMS in, a
 * counsellor's reply to two clients, a failed SMS noticed in Front, a USSD session, when the
 * environment has the WhatsApp channel a WhatsApp client walking the flow to Front and the
 * reply out, and a chatbot handoff (bot → Front → reply → bot → close) — each step printed
 * as it converges, with its latency. Numbers are shown masked.
 */
import { dial } from '../simulators/ussd.ts';
import { CHATBOT_CHANNEL_ID, startDemoChatbot } from './chatbot.ts';
import { DEMO_SUPPORT, SMS_CHANNEL_ID, WHATSAPP_CHANNEL_ID, type DemoEnvironment } from './environment.ts';

const CLIENT = '+15550002222';
const CLIENT_2 = '+15550003333';
const WHATSAPP_CLIENT = '+254711000222';
const mask = (number: string) => `…${number.slice(-4)}`;

async function until<T>(check: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('the demo did not converge in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

export interface DemoStep {
  title: string;
  ms: number;
}

export async function playDemo(env: DemoEnvironment, print: (line: string) => void): Promise<DemoStep[]> {
  const steps: DemoStep[] = [];
  const step = async (title: string, run: () => Promise<void>) => {
    const started = performance.now();
    await run();
    const ms = performance.now() - started;
    steps.push({ title, ms });
    print(`  ✓ ${title} (${ms.toFixed(0)} ms)`);
  };

  print(`1. A client (${mask(CLIENT)}) texts the helpline at ${mask(DEMO_SUPPORT)}`);
  await step('the SMS is in the Front inbox', async () => {
    const { message } = await env.signalwire.receiveInbound({ from: CLIENT, to: DEMO_SUPPORT, body: 'Hi, I need to talk to someone' }, env.signalwireHook);
    await until(() => env.front.inbox.find((m) => m.externalId === message.sid));
  });

  print(`2. A counsellor replies in Front to ${mask(CLIENT)} and ${mask(CLIENT_2)}`);
  await step('two SMS sent through SignalWire, one each', async () => {
    await env.smsChannel.message({ id: 'msg_demo_reply', channelId: SMS_CHANNEL_ID, text: 'We are here for you. Tell us more when you are ready.', to: [CLIENT, CLIENT_2] });
    await until(() => env.signalwire.sent().filter((m) => m.body?.startsWith('We are here')).length === 2);
  });

  print(`3. The SMS to ${mask(CLIENT_2)} fails at the carrier`);
  await step('the failure is posted into the Front conversation', async () => {
    const failed = env.signalwire.sent().find((m) => m.to === CLIENT_2)!;
    await env.signalwire.setStatus(failed.sid, 'failed', { errorCode: '30003', errorMessage: 'Unreachable destination handset' });
    await until(() => env.front.inbox.find((m) => m.body.startsWith('SMS failed to send')));
  });

  print('4. Another client dials *384*1234# (USSD, no data bundle needed)');
  await step('menu, message and consent over three screens; the message is in Front', async () => {
    const { session } = await dial(`${env.publicUrl}/v1/ussd/africastalking/${env.ussd.opaque_id}`, { gateway: 'africastalking', msisdn: '+254712345678' });
    await session.send('1');
    await session.send('I am scared to go home');
    await session.send('1');
    await until(() => env.front.inbox.find((m) => m.body === 'I am scared to go home'));
  });

  const channel = env.whatsappChannel;
  if (channel) {
    const wa = env.whatsapp;
    const client = WHATSAPP_CLIENT.slice(1);
    const say = (body: string) => wa.receiveInbound({ from: client, type: 'text', fields: { text: { body } } }, env.whatsappHook);
    const sentCount = () => wa.sent().filter((m) => m.to === client).length;
    print(`5. A client (${mask(WHATSAPP_CLIENT)}) writes on WhatsApp and walks the helpline flow`);
    await step('the menu comes back as buttons; a tap, a message, and the conversation is in the Front inbox', async () => {
      await say('Hello?');
      const menu = await until(() => wa.sent().find((m) => m.to === client && m.type === 'interactive'));
      const buttons = (menu.request.interactive as { action: { buttons: { reply: { id: string; title: string } }[] } }).action.buttons;
      const talk = buttons.map((b) => b.reply).find((r) => r.title === 'Talk to a counsellor')!;
      const before = sentCount();
      await wa.receiveInbound({ from: client, type: 'interactive', fields: { interactive: { type: 'button_reply', button_reply: talk } } }, env.whatsappHook);
      await until(() => sentCount() > before);
      const { message } = await say('Can I talk to someone here?');
      await until(() => env.front.inbox.find((m) => m.externalId === message.id && m.senderHandle === WHATSAPP_CLIENT));
    });
    await step('the counsellor\'s reply goes out on WhatsApp, and Meta\'s receipt comes back', async () => {
      await channel.message({ id: 'msg_demo_whatsapp', channelId: WHATSAPP_CHANNEL_ID, text: 'Yes. We are listening.', to: [WHATSAPP_CLIENT] });
      const sent = await until(() => wa.sent().find((m) => m.to === client && m.type === 'text' && JSON.stringify(m.request).includes('We are listening')));
      await wa.sendStatus(sent.wamid, 'delivered', env.whatsappHook);
    });
  }

  print(`${channel ? 6 : 5}. A chatbot (RapidPro/Weni) hands a client over to a counsellor`);
  // The environment's own chatbot when it has one (the phone page's), else one for the script.
  const chatbot = env.chatbot ?? (await startDemoChatbot(env));
  try {
    const contact = chatbot.rapidpro.addContact({ urn: 'telegram:424242', name: 'Client' }).uuid;
    await step('the flow posts the message; it is in Front under a pseudonym', async () => {
      await chatbot.bot.say({ contact, session: 'demo-chat', text: 'I do not feel safe at home', pseudonym: 'Blue Fish' });
      await until(() => env.front.inbox.find((m) => m.externalConversationId === 'demo-chat#1'));
    });
    await step('the counsellor\'s reply reaches the client through RapidPro, signed', async () => {
      await chatbot.front.message({ id: 'msg_demo_chat', channelId: CHATBOT_CHANNEL_ID, text: 'You did the right thing by writing. I am here.', to: ['demo-chat#1'] });
      await until(() => chatbot.rapidpro.sent().find((m) => m.contact.uuid === contact));
    });
    await step('the bot ends the session; Front is told', async () => {
      await chatbot.bot.close('demo-chat');
      await until(() => env.front.inbox.find((m) => m.externalConversationId === 'demo-chat#1' && m.body.startsWith('The chatbot ended')));
    });
  } finally {
    if (chatbot !== env.chatbot) await chatbot.close();
  }
  return steps;
}
