/** The CLI fields every Front channel takes: the number it speaks from, and the region for typed numbers. */
import type { FieldSpec } from '../../engine/replicator.ts';
import { parsePhoneFlag, parseRegionFlag } from '../../providers/phone.ts';

export const channelFields = (phoneDescription: string): FieldSpec[] => [
  {
    flag: 'phone',
    target: { column: 'api_url' },
    description: phoneDescription,
    required: true,
    parse: (value, { config, flags }) => parsePhoneFlag(value, flags.region?.toUpperCase() ?? config.defaultPhoneRegion),
  },
  {
    flag: 'region',
    target: { setting: 'region' },
    description: 'two-letter country for numbers typed without a country code',
    parse: parseRegionFlag,
  },
];
