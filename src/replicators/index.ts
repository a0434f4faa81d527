/**
 * The replicators this build ships, in one explicit list. Adding a channel means adding
 * its module here (and its table's migration); nothing else in the engine changes.
 */
import { Registry } from '../engine/registry.ts';
import type { Replicator } from '../engine/replicator.ts';
import { frontSignalwireMessageChannelAppV1 } from './front-signalwire-message-channel-app-v1/index.ts';
import { signalwireMessageV1 } from './signalwire-message-v1.ts';
import { frontUssdChannelAppV1 } from './front-ussd-channel-app-v1.ts';
import { ussdRequestV1 } from './ussd-request-v1/index.ts';
import { whatsappMessageV1 } from './whatsapp-message-v1.ts';
import { frontWhatsappChannelAppV1 } from './front-whatsapp-channel-app-v1/index.ts';
import { chatbotHandoffV1 } from './chatbot-handoff-v1/index.ts';
import { frontChatbotChannelAppV1 } from './front-chatbot-channel-app-v1/index.ts';

export const BUILT_IN_REPLICATORS: readonly Replicator[] = [
  signalwireMessageV1,
  frontSignalwireMessageChannelAppV1,
  frontUssdChannelAppV1,
  ussdRequestV1,
  whatsappMessageV1,
  frontWhatsappChannelAppV1,
  chatbotHandoffV1,
  frontChatbotChannelAppV1,
];

export const defaultRegistry = () => new Registry(BUILT_IN_REPLICATORS);
