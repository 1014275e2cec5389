// The formats CRD schemas may use (apiextensions 1.32's supported list), checked the way kube-openapi's strfmt
// registry checks them. Format names are looked up with dashes removed, as strfmt normalizes them. Any other
// format, int32/int64/float/double included, is dropped before validation (StripUnsupportedFormatsPostProcess).

import { isIPv6 } from 'node:net';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const UUID3 = /^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const UUID4 = /^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i;
const UUID5 = /^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/; // "" is valid: zero bytes
const HOSTNAME =
  /^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$/u;
const DATE_TIME_TAIL = /^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$/;
const GO_DURATION = /^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const LOOSE_DURATION = /(\d+)\s*([A-Za-zµ]+)/g;
const DURATION_UNITS = [
  ['ns', 'nano'],
  ['us', 'µs', 'micro'],
  ['ms', 'milli'],
  ['s', 'sec'],
  ['m', 'min'],
  ['h', 'hr', 'hour'],
  ['d', 'day'],
  ['w', 'wk', 'week'],
];

const FORMATS: Record<string, (s: string) => boolean> = {
  bsonobjectid: (s) => /^[0-9a-fA-F]{24}$/.test(s),
  uri: isRequestURI,
  email: (s) => /^(?:[^<>]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/.test(s.trim()),
  hostname: (s) => HOSTNAME.test(s) && s.length <= 255 && s.split('.').every((p) => Buffer.byteLength(p) <= 63),
  ipv4: (s) => s.includes('.') && (parseIPv4(s) || (isIPv6(s) && !s.includes('%'))),
  ipv6: (s) => s.includes(':') && isIPv6(s) && !s.includes('%'),
  cidr: isCIDR,
  mac: isMAC,
  uuid: (s) => UUID.test(s),
  uuid3: (s) => UUID3.test(s),
  uuid4: (s) => UUID4.test(s),
  uuid5: (s) => UUID5.test(s),
  isbn: (s) => isISBN10(s) || isISBN13(s),
  isbn10: isISBN10,
  isbn13: isISBN13,
  creditcard: isCreditCard,
  ssn: (s) => s.length === 11 && /^\d{3}[- ]?\d{2}[- ]?\d{4}$/.test(s),
  hexcolor: (s) => /^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(s),
  rgbcolor: (s) =>
    /^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$/.test(s),
  byte: (s) => BASE64.test(s),
  password: () => true,
  date: isDate,
  duration: isDuration,
  datetime: isDateTime,
};

/** The checker of a supported format, or undefined when validation ignores the format. */
export function formatChecker(format: unknown): ((s: string) => boolean) | undefined {
  const name = typeof format === 'string' ? format.replaceAll('-', '') : '';
  return Object.hasOwn(FORMATS, name) ? FORMATS[name] : undefined;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

// time.Parse("2006-01-02"): four-digit year, real month and day.
function isDate(s: string): boolean {
  if (s.length !== 10 || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const y = Number(s.slice(0, 4));
  const m = Number(s.slice(5, 7));
  const d = Number(s.slice(8, 10));
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return m >= 1 && m <= 12 && d >= 1 && d <= (m === 2 && leap ? 29 : DAYS_IN_MONTH[m - 1]);
}

// strfmt.IsDateTime: split on every "t" (any case); the first two pieces are the date and the time.
function isDateTime(s: string): boolean {
  if (s.length < 4) return false;
  const lower = s.toLowerCase();
  const t = lower.indexOf('t');
  if (t < 0 || !isDate(lower.slice(0, t))) return false;
  const end = lower.indexOf('t', t + 1);
  const m = DATE_TIME_TAIL.exec(lower.slice(t + 1, end < 0 ? undefined : end));
  return !!m && m[1] <= '23' && m[2] <= '59' && m[3] <= '59';
}

// time.ParseDuration, else the Scala-like "<n> <unit>" forms strfmt also accepts.
function isDuration(s: string): boolean {
  if (s === '0' || GO_DURATION.test(s)) return true;
  for (const [, , u] of s.matchAll(LOOSE_DURATION)) {
    const unit = u.trim().toLowerCase();
    if (DURATION_UNITS.some((vs) => vs.some((v, i) => v === unit || (i === vs.length - 1 && unit.startsWith(v))))) return true;
  }
  return false;
}

// net.ParseIP for dotted quads, tolerating leading zeros like netutils.ParseIPSloppy.
function parseIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isCIDR(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return false;
  if (parseIPv4(ip)) return Number(bits) <= 32;
  return isIPv6(ip) && !ip.includes('%') && Number(bits) <= 128;
}

// net.ParseMAC: 6, 8 or 20 octets as xx:xx.., xx-xx.. or xxxx.xxxx..
function isMAC(s: string): boolean {
  const octets = (n: number) => n === 6 || n === 8 || n === 20;
  if (/^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2})*$/.test(s)) return octets(s.split(/[:-]/).length);
  if (/^[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4})*$/.test(s)) return octets(s.split('.').length * 2);
  return false;
}

// url.ParseRequestURI: an absolute URI or an absolute path, without control characters or bad escapes.
function isRequestURI(s: string): boolean {
  if (/[\x00-\x1f\x7f]/.test(s) || /%(?![0-9a-fA-F]{2})/.test(s)) return false;
  if (s.startsWith('/')) return true;
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:(.*)$/.exec(s);
  if (!m) return false;
  // An opaque "scheme:rest" is fine; an authority must not contain spaces.
  return !m[1].startsWith('//') || !/\s/.test(m[1].slice(2).split(/[/?#]/)[0]);
}

function isISBN10(s: string): boolean {
  const d = s.replace(/[\s-]/g, '');
  if (!/^(?:[0-9]{9}X|[0-9]{10})$/.test(d)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += (i + 1) * Number(d[i]);
  sum += d[9] === 'X' ? 100 : 10 * Number(d[9]);
  return sum % 11 === 0;
}

function isISBN13(s: string): boolean {
  const d = s.replace(/[\s-]/g, '');
  if (!/^[0-9]{13}$/.test(d)) return false;
  let sum = 0;
  for (let i = 0; i < 12; i++) sum += Number(d[i]) * (i % 2 === 0 ? 1 : 3);
  return (10 - (sum % 10)) % 10 === Number(d[12]);
}

// Known issuer prefixes plus the Luhn checksum.
function isCreditCard(s: string): boolean {
  const d = s.replace(/[^0-9]/g, '');
  if (
    !/^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$/.test(
      d,
    )
  )
    return false;
  let sum = 0;
  for (let i = d.length - 1, dbl = false; i >= 0; i--, dbl = !dbl) {
    let n = Number(d[i]);
    if (dbl) n = n * 2 > 9 ? n * 2 - 9 : n * 2;
    sum += n;
  }
  return sum % 10 === 0;
}
