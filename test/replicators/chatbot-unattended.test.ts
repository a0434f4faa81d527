/**
 * Unattended clients (issue 17, item 6): a handed-off client's first unanswered message older
 * than --unattended-after minutes raises one visible alert in their Front conversation per
 * period of waiting, listed by `status --json`; a counsellor's reply ends the wait.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { unattendedAlert } from '../../src/replicators/front-chatbot-channel-app-v1/unattended.ts';
import { CHATBOT_CHANNEL_ID, setUpChatbot, type ChatbotSetup } from '../helpers/chatbot.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChatbotSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

const waited = (s: ChatbotSetup, minutes: number) =>
  sql`UPDATE front_chatbot_channel_app_v1 SET row_created_at = now() - make_interval(mins => ${minutes}) WHERE direction = 'inbound' AND NOT data ? 'notice'`.execute(s.engine.db);

describe('unattended alerts', () => {
  it('alerts once per period of waiting, shows it in status, and stops once a counsellor answers', async () => {
    setup = await setUpChatbot(database(), ['--unattended-after', '15']);
    const contact = setup.rapidpro.addContact({ urn: 'telegram:777' }).uuid;
    await setup.bot().say({ contact, session: 'u-1', text: 'is anyone there?' });
    await setup.pass(setup.channel);
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['is anyone there?']);

    await waited(setup, 16);
    await setup.pass(setup.channel);
    await setup.pass(setup.channel);
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['is anyone there?', unattendedAlert(15)]);
    const status = await setup.cli('status', '--json');
    const channel = status.json().integrations.find((i: any) => i.service === 'front_chatbot_channel_app_v1');
    expect(channel.details.unattended).toMatchObject([{ conversation_id: 'u-1#1', waiting_minutes: 16 }]);

    await waited(setup, 31);
    await setup.pass(setup.channel);
    expect(setup.front.inbox.map((m) => m.body).slice(1)).toEqual([unattendedAlert(15), unattendedAlert(30)]);

    await setup.frontClient.message({ id: 'msg_here', channelId: CHATBOT_CHANNEL_ID, text: 'I am here', to: ['u-1#1'] });
    await waited(setup, 60);
    await setup.pass(setup.channel);
    expect(setup.front.inbox).toHaveLength(3);
    const after = await setup.cli('status', '--json');
    expect(after.json().integrations.find((i: any) => i.service === 'front_chatbot_channel_app_v1').details.unattended).toEqual([]);
  });
});
