/**
 * The default helpline flow, used when an integration gives no `--flow` document: a
 * message to the counsellors with the caller's SMS consent, the unread replies, or exit.
 * Also the reference example of a version 1 flow document (flow/schema.ts).
 */
import { parseFlow, type Flow } from './schema.ts';

export const HELPLINE_FLOW: Flow = parseFlow({
  version: 1,
  start: 'main',
  screens: {
    main: {
      type: 'menu',
      title: 'Child Helpline',
      choices: [
        { label: 'Talk to a counsellor', next: 'message' },
        { label: 'Read replies ({unread} new)', next: 'replies' },
        { number: '0', label: 'Exit', next: 'bye' },
      ],
    },
    message: { type: 'prompt', text: 'Type your message:', save: 'message', next: 'consent' },
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
    bye: { type: 'end', text: 'Goodbye. Dial again any time.' },
  },
});
