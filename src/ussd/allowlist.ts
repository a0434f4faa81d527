/**
 * IP allowlists of USSD services: addresses and CIDR ranges, IPv4 and IPv6, separated by
 * spaces or commas. USSD callbacks are unsigned, so the sender's address is the only proof
 * that a request comes from the gateway and not from someone posing as a caller.
 */
import net from 'node:net';

/** One entry, checked: an address, or an address and a prefix length its family allows. */
function parseEntry(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address = '', prefixText, extra] = entry.split('/');
  const version = net.isIP(address);
  const bits = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (version === 0 || extra !== undefined || !(prefix >= 0 && prefix <= bits)) {
    throw new Error(`"${entry}" is not an IP address or CIDR range (e.g. 197.248.0.0/16 or 2001:db8::/32)`);
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The `--ip-allowlist` flag: every entry valid, else an error naming the first bad one. Stored space-separated. */
export function parseAllowlist(text: string): string {
  const entries = text.split(/[\s,]+/).filter(Boolean);
  if (entries.length === 0) throw new Error('at least one IP address or CIDR range');
  for (const entry of entries) parseEntry(entry);
  return entries.join(' ');
}

const lists = new Map<string, net.BlockList>();

/** The stored allowlist as a matcher; null when there is none (the service is unauthenticated). */
export function allowlistOf(value: unknown): net.BlockList | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  let list = lists.get(value);
  if (!list) {
    list = new net.BlockList();
    for (const entry of value.split(/[\s,]+/).filter(Boolean)) {
      // Entries are checked when set; one stored before that and invalid matches nothing.
      try {
        const { address, prefix, family } = parseEntry(entry);
        list.addSubnet(address, prefix, family);
      } catch {
        continue;
      }
    }
    lists.set(value, list);
  }
  return list;
}

export function isAllowed(list: net.BlockList, ip: string): boolean {
  // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
  const plain = ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  const version = net.isIP(plain);
  return version !== 0 && list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
}
