import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labelSelectorFromObject, parseFieldSelector, parseLabelSelector } from '../../src/apiserver/selectors.ts';
import { StatusError } from '../../src/apiserver/errors.ts';

function badRequest(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StatusError);
    assert.equal(err.code, 400);
    assert.equal(err.reason, 'BadRequest');
    return err.message;
  }
  assert.fail('expected a 400');
}

const web = { app: 'web', tier: 'frontend', env: 'prod' };
const db = { app: 'db', tier: 'backend' };
const bare = {};

function selects(s: string): string[] {
  const sel = parseLabelSelector(s);
  return Object.entries({ web, db, bare })
    .filter(([, l]) => sel.matches(l))
    .map(([n]) => n);
}

test('label selector: every operator kubectl -l accepts', () => {
  assert.deepEqual(selects('app=web'), ['web']);
  assert.deepEqual(selects('app==web'), ['web']);
  assert.deepEqual(selects('app!=web'), ['db', 'bare']); // a missing key satisfies !=
  assert.deepEqual(selects('app in (web,db)'), ['web', 'db']);
  assert.deepEqual(selects('app notin (web)'), ['db', 'bare']);
  assert.deepEqual(selects('env'), ['web']);
  assert.deepEqual(selects('!env'), ['db', 'bare']);
  assert.deepEqual(selects('tier,app notin (db)'), ['web']); // comma is AND
  assert.deepEqual(selects('  app = web ,  tier in ( frontend , backend )  '), ['web']);
  assert.deepEqual(selects(''), ['web', 'db', 'bare']);
});

test('label selector: empty, String() normalisation and odd-but-valid forms', () => {
  assert.equal(parseLabelSelector('').empty, true);
  assert.equal(parseLabelSelector('a').empty, false);
  // Requirements are sorted by key and set values sorted, as the real server echoes them.
  assert.equal(parseLabelSelector('z=1, b in (y,x), !a, c').toString(), '!a,b in (x,y),c,z=1');
  // "in" is an identifier in value position; empty values are allowed.
  assert.equal(parseLabelSelector('in in (in)').toString(), 'in in (in)');
  assert.equal(parseLabelSelector('x in (foo,,baz),y,z notin ()').toString(), 'x in (,baz,foo),y,z notin ()');
  assert.ok(parseLabelSelector('a=').matches({ a: '' }));
  assert.ok(parseLabelSelector('example.com/owner=team-a').matches({ 'example.com/owner': 'team-a' }));
  assert.ok(parseLabelSelector('n>5').matches({ n: '7' }));
  assert.ok(!parseLabelSelector('n<5').matches({ n: 'x' }));
  assert.ok(parseLabelSelector('a=b').matches({ a: 'b', other: 'x' }));
  assert.ok(!parseLabelSelector('a=b').matches(undefined));
});

test('label selector: syntax errors are 400 with apimachinery wording', () => {
  assert.equal(
    badRequest(() => parseLabelSelector('a b')),
    "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt",
  );
  assert.equal(
    badRequest(() => parseLabelSelector('a=b c')),
    "found 'c', expected: ',' or 'end of string'",
  );
  assert.equal(
    badRequest(() => parseLabelSelector('a in x')),
    "unable to parse requirement: found 'x' expected: '('",
  );
  assert.equal(
    badRequest(() => parseLabelSelector('a in (x')),
    "unable to parse requirement: found '', expected: ',' or ')'",
  );
  assert.equal(
    badRequest(() => parseLabelSelector('a,')),
    "found '', expected: identifier after ','",
  );
  assert.equal(
    badRequest(() => parseLabelSelector(',a')),
    "found ',', expected: !, identifier, or 'end of string'",
  );
  assert.equal(
    badRequest(() => parseLabelSelector('a=(b)')),
    "unable to parse requirement: found '(', expected: identifier",
  );
});

test('label selector: keys and values are validated like label keys and values', () => {
  assert.equal(
    badRequest(() => parseLabelSelector('a@b=c')),
    `unable to parse requirement: <nil>: Invalid value: "a@b": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
  );
  assert.match(
    badRequest(() => parseLabelSelector('Example.com/x=y')),
    /prefix part a lowercase RFC 1123 subdomain/,
  );
  assert.equal(
    badRequest(() => parseLabelSelector(`a=${'v'.repeat(64)}`)),
    `unable to parse requirement: values[0][a]: Invalid value: "${'v'.repeat(64)}": must be no more than 63 characters`,
  );
  assert.match(
    badRequest(() => parseLabelSelector('a in (ok,-bad)')),
    /^unable to parse requirement: values\[0\]\[a\]: Invalid value: "-bad": a valid label must be/,
  );
  assert.equal(
    badRequest(() => parseLabelSelector('n>x')),
    `unable to parse requirement: values[0]: Invalid value: "x": for 'Gt', 'Lt' operators, the value must be an integer`,
  );
});

test('labelSelectorFromObject: metav1.LabelSelector semantics', () => {
  // null selects nothing, {} selects everything (LabelSelectorAsSelector).
  assert.equal(labelSelectorFromObject(undefined).matches(web), false);
  assert.equal(labelSelectorFromObject(null).empty, false);
  assert.equal(labelSelectorFromObject({}).matches(bare), true);
  assert.equal(labelSelectorFromObject({ matchLabels: {}, matchExpressions: [] }).empty, true);

  const sel = labelSelectorFromObject({
    matchLabels: { app: 'web' },
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['frontend', 'edge'] },
      { key: 'canary', operator: 'DoesNotExist' },
      { key: 'env', operator: 'Exists' },
      { key: 'zone', operator: 'NotIn', values: ['b'] },
    ],
  });
  assert.equal(sel.matches(web), true);
  assert.equal(sel.matches({ ...web, canary: 'true' }), false);
  assert.equal(sel.matches(db), false);
  assert.equal(sel.toString(), 'app=web,!canary,env,tier in (edge,frontend),zone notin (b)');
});

test('labelSelectorFromObject: invalid selectors are 400 with NewRequirement texts', () => {
  assert.equal(
    badRequest(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] })),
    "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
  );
  assert.equal(
    badRequest(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] })),
    'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist',
  );
  assert.equal(
    badRequest(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] })),
    '"Gt" is not a valid label selector operator',
  );
  assert.match(
    badRequest(() => labelSelectorFromObject({ matchLabels: { 'bad key': 'x' } })),
    /^key: Invalid value: "bad key": name part must consist/,
  );
});

test('field selector: =, ==, != and AND', () => {
  const pod: Record<string, string> = { 'metadata.name': 'web', 'metadata.namespace': 'default', 'status.phase': 'Running' };
  const get = (f: string) => pod[f];
  assert.ok(parseFieldSelector('metadata.name=web').matches(get));
  assert.ok(parseFieldSelector('metadata.name==web,status.phase!=Pending').matches(get));
  assert.ok(!parseFieldSelector('metadata.name=web,metadata.namespace=kube-system').matches(get));
  assert.ok(parseFieldSelector('spec.nodeName=').matches(get)); // missing field reads as ""
  assert.ok(parseFieldSelector('spec.nodeName!=node-1').matches(get));
  assert.equal(parseFieldSelector('').empty, true);
  assert.equal(parseFieldSelector('a=b').empty, false);
  assert.deepEqual(parseFieldSelector('b!=2,a==1').requirements, [
    { field: 'a', op: '=', value: '1' },
    { field: 'b', op: '!=', value: '2' },
  ]);
});

test('field selector: backslash escapes and their errors', () => {
  const sel = parseFieldSelector('metadata.name=a\\,b\\=c\\\\d');
  assert.deepEqual(sel.requirements, [{ field: 'metadata.name', op: '=', value: 'a,b=c\\d' }]);
  assert.equal(sel.toString(), 'metadata.name=a\\,b\\=c\\\\d');
  assert.equal(
    badRequest(() => parseFieldSelector('a=b=c')),
    'invalid field selector: unescaped character in value: 61',
  );
  assert.equal(
    badRequest(() => parseFieldSelector('a=b\\x')),
    'invalid field selector: invalid escape sequence: \\x',
  );
  assert.equal(
    badRequest(() => parseFieldSelector('a=b\\')),
    'invalid field selector: invalid escape sequence: \\',
  );
  assert.equal(
    badRequest(() => parseFieldSelector('metadata.name')),
    "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
  );
});
