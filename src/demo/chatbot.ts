/**
 * A chatbot handoff on a demo environment: a RapidPro simulator, a `chatbot_handoff_v1`
 * integration on it (credentials issued), its Front channel authorised in the simulated
 * Front, and the simulator's bot signed in. For the demo's handoff and `npm run latency`.
 */
import { createIntegration } from '../engine/integrations.ts';
import { CHATBOT_CHANNEL_PATH } from '../replicators/front-chatbot-channel-app-v1/index.ts';
import type { FrontChannelClient } from '../simulators/front.ts';
import { startRapidProSimulator, type ChatbotDriver, type RapidProSimulator } from '../simulators/rapidpro.ts';
import type { DemoEnvironment } from './environment.ts';

export const CHATBOT_CHANNEL_ID = 'cha_demo_chatbot';

export interface DemoChatbot {
  rapidpro: RapidProSimulator;
  bot: ChatbotDriver;
  /** Front's side of the chatbot channel. */
  front: FrontChannelClient;
  close(): Promise<void>;
}

export async function startDemoChatbot(env: Pick<DemoEnvironment, 'engine' | 'config' | 'front' | 'publicUrl'>): Promise<DemoChatbot> {
  const rapidpro = await startRapidProSimulator({ rateLimit: null });
  const create = (service: string, flags: Record<string, string>, dependsOn?: string) =>
    createIntegration(env.engine.db, env.engine.registry, env.config, { service, flags, ...(dependsOn ? { dependsOn } : {}) });
  const handoff = await create('chatbot_handoff_v1', { 'rapidpro-url': rapidpro.url, 'rapidpro-token': rapidpro.token });
  const channel = await create('front_chatbot_channel_app_v1', {}, String(handoff.integration.id));
  const front = env.front.channelClient({ webhookUrl: `${env.publicUrl}${CHATBOT_CHANNEL_PATH}`, apiKey: channel.apiKey! });
  await front.authorize(CHATBOT_CHANNEL_ID);
  const bot = rapidpro.bot({
    apiBaseUrl: `${env.publicUrl}/v1/chatbot/${handoff.integration.opaque_id}/`,
    username: handoff.issued.username!,
    password: handoff.issued.password!,
  });
  return { rapidpro, bot, front, close: () => rapidpro.close() };
}
