// resource.Quantity: parsing, comparison and the canonical string form the real server stores
// (k8s.io/apimachinery/pkg/api/resource). Values are exact: an integer mantissa times a power of ten.

export interface Quantity {
  /** value = mantissa * 10^exp */
  mantissa: bigint;
  exp: number;
  format: 'DecimalSI' | 'BinarySI' | 'DecimalExponent';
}

export const QUANTITY_REGEX_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const QUANTITY = /^([+-]?)(\d*)(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** Parses a quantity from its JSON form (string or number); undefined when it is not one. */
export function parseQuantity(v: unknown): Quantity | undefined {
  const text = typeof v === 'number' && Number.isFinite(v) ? String(v) : typeof v === 'string' ? v.trim() : undefined;
  const m = text === undefined ? null : QUANTITY.exec(text);
  if (!m || (!m[2] && !m[3])) return undefined;
  const [, sign, whole, frac = '', suffix = ''] = m;
  let mantissa = BigInt((sign === '-' ? '-' : '') + (whole + frac || '0'));
  let exp = -frac.length;
  let format: Quantity['format'] = 'DecimalSI';
  if (suffix in BINARY_SUFFIX) {
    mantissa *= 1024n ** BigInt(BINARY_SUFFIX[suffix]);
    format = 'BinarySI';
  } else if (suffix in DECIMAL_SUFFIX) {
    exp += DECIMAL_SUFFIX[suffix];
  } else {
    exp += Number(suffix.slice(1));
    format = 'DecimalExponent';
  }
  return { mantissa, exp, format };
}

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** Rounds up to a multiple of 10^scale (resource lists are kept at milli precision). */
function roundUp(q: Quantity, scale: number): Quantity {
  if (q.exp >= scale) return q;
  const div = pow10(scale - q.exp);
  let m = q.mantissa / div;
  if (q.mantissa % div !== 0n && q.mantissa > 0n) m += 1n;
  return { ...q, mantissa: m, exp: scale };
}

/** Compares two quantities by value: negative, zero or positive. */
export function compareQuantity(a: Quantity, b: Quantity): number {
  const e = Math.min(a.exp, b.exp);
  const x = a.mantissa * pow10(a.exp - e);
  const y = b.mantissa * pow10(b.exp - e);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function addQuantity(a: Quantity, b: Quantity): Quantity {
  const e = Math.min(a.exp, b.exp);
  return { mantissa: a.mantissa * pow10(a.exp - e) + b.mantissa * pow10(b.exp - e), exp: e, format: a.format };
}

export const isZero = (q: Quantity) => q.mantissa === 0n;

/** The canonical string, as Quantity.String(): 0.5 -> "500m", 1000 -> "1k", 1048576Ki -> "1Gi", 1e3 -> "1e3". */
export function formatQuantity(input: Quantity, milliPrecision = true): string {
  const q = milliPrecision ? roundUp(input, -3) : input;
  if (q.mantissa === 0n) return '0';
  const exact = q.exp >= 0 || q.mantissa % pow10(-q.exp) === 0n;
  if (q.format === 'BinarySI' && exact) {
    let v = q.exp >= 0 ? q.mantissa * pow10(q.exp) : q.mantissa / pow10(-q.exp);
    if (v <= -1024n || v >= 1024n) {
      let k = 0;
      while (k < 6 && v % 1024n === 0n) {
        v /= 1024n;
        k++;
      }
      return `${v}${['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'][k]}`;
    }
  }
  // Decimal: the largest exponent that is a multiple of 3 and keeps the mantissa an integer.
  let m = q.mantissa;
  let e = q.exp;
  while (m % 10n === 0n) {
    m /= 10n;
    e++;
  }
  const e3 = Math.max(-9, Math.floor(e / 3) * 3);
  m *= pow10(e - e3);
  if (q.format === 'DecimalExponent') return e3 === 0 ? `${m}` : `${m}e${e3}`;
  const suffix = Object.keys(DECIMAL_SUFFIX).find((s) => DECIMAL_SUFFIX[s] === e3)!;
  return `${m}${suffix}`;
}
