/**
 * The default helpline flow, used when an integration gives no `--flow` document: a
 * message to the counsellors with the caller's SMS consent, the unread replies, or exit.
 * Also the reference example of a version 1 flow document (flow/schema.ts).
 * HELPLINE_FLOW_WITHOUT_REPLIES is its form for services whose callers are not
 * authenticated: it neither lists replies nor asks for SMS consent.
 */
import { parseFlow, type Flow } from './schema.ts';

/** The helpline document; `withReplies` false drops "Read replies" and the SMS question. */
function helplineFlow(withReplies: boolean): Flow {
  const replies = {
    consent: {
      type: 'menu',
      title: 'May a counsellor reply by SMS?',
      choices: [
        { label: 'Yes', next: 'sent_sms', set: { sms_consent: true } },
        { label: 'No', next: 'sent', set: { sms_consent: false } },
      ],
    },
    // What the client is told about replies matches what they agreed to.
    sent_sms: { type: 'end', text: 'Thank you. A counsellor will reply by SMS. You can also read replies when you dial again.', action: 'submit_message' },
    sent: { type: 'end', text: 'Thank you. A counsellor will read your message. Dial again to read replies.', action: 'submit_message' },
    replies: { type: 'replies', empty: 'No new replies yet.', header: 'Replies:' },
  };
  return parseFlow({
    version: 1,
    start: 'main',
    screens: {
      main: {
        type: 'menu',
        title: 'Child Helpline',
        choices: [
          { label: 'Talk to a counsellor', next: 'message' },
          ...(withReplies ? [{ label: 'Read replies ({unread} new)', next: 'replies' }] : []),
          { number: '0', label: 'Exit', next: 'bye' },
        ],
      },
      message: { type: 'prompt', text: 'Type your message:', save: 'message', next: withReplies ? 'consent' : 'sent' },
      ...(withReplies ? replies : { sent: { type: 'end', text: 'Thank you. A counsellor will read your message.', action: 'submit_message' } }),
      bye: { type: 'end', text: 'Goodbye. Dial again any time.' },
    },
  });
}

export const HELPLINE_FLOW = helplineFlow(true);
export const HELPLINE_FLOW_WITHOUT_REPLIES = helplineFlow(false);
