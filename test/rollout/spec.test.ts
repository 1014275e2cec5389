// The BaseOSRollout plan without a server: batch sizes and budgets, the downgrade floor, bad values
// refused with the field named, maintenance windows in a time zone; and how a device's EdgeNode
// status reads as a rollout state (a fallback is never read as updated).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRollout, windowState, observeDevice, unreadyApps } from '../../src/controllers/rollout/index.ts';

const base = { version: '14.6.0-kvm-amd64', image: 'lfedge/eve:14.6.0-kvm-amd64', selector: {} };

test('batches: counts and percentages (rounded up), the rest in a last batch; budgets rounded down', () => {
  const p = planRollout({ ...base, batches: [{ size: 1 }, { size: '10%' }, { size: 10, failureBudget: '20%' }], failureBudget: 1, maxUnavailable: '5%' }, 50);
  assert.ok(!('reason' in p));
  if ('reason' in p) return;
  assert.deepEqual(p.sizes, [1, 5, 10, 34]);
  assert.deepEqual(p.budgets, [1, 1, 2, 1]);
  assert.equal(p.maxUnavailable, 2);
  const small = planRollout({ ...base, batches: [{ size: 10 }, { size: 10 }] }, 4);
  assert.ok(!('reason' in small) && small.sizes.join() === '4', 'batches beyond the fleet are dropped');
  const one = planRollout(base, 7);
  assert.ok(!('reason' in one) && one.sizes.join() === '7' && one.maxUnavailable === 1, 'no batches: one batch, one device at a time');
});

test('bad values are refused with the field path; the downgrade floor holds unless forced', () => {
  assert.deepEqual(planRollout({ ...base, batches: [{ size: 'ten' }] }, 5), {
    reason: 'InvalidSpec',
    message: 'spec.batches[0].size must be a non-negative integer or a percentage like "25%", not "ten"',
  });
  assert.match((planRollout({ ...base, maxUnavailable: '5 %' }, 5) as { message: string }).message, /^spec\.maxUnavailable /);
  assert.match(
    (planRollout({ ...base, maintenanceWindow: { schedule: '61 * * * *', durationMinutes: 5 } }, 5) as { message: string }).message,
    /^spec\.maintenanceWindow\.schedule: /,
  );
  assert.match(
    (planRollout({ ...base, maintenanceWindow: { schedule: '0 2 * * *', durationMinutes: 5, timeZone: 'Mars/Olympus' } }, 5) as { message: string }).message,
    /unknown time zone "Mars\/Olympus"/,
  );
  const floor = planRollout({ ...base, version: '13.4.0', minVersion: '14.0.0' }, 5);
  assert.equal((floor as { reason: string }).reason, 'DowngradeRefused');
  assert.ok(!('reason' in planRollout({ ...base, version: '13.4.0', minVersion: '14.0.0', force: true }, 5)));
  assert.ok(!('reason' in planRollout({ ...base, version: '14.10.0', minVersion: '14.9.1' }, 5)), '14.10 is above 14.9 (numeric, not string order)');
});

test('maintenance window: open inside [start, start + duration) in its time zone, with the time to the next change', () => {
  const plan = planRollout({ ...base, maintenanceWindow: { schedule: '0 2 * * *', durationMinutes: 60, timeZone: 'Europe/Berlin' } }, 1);
  if ('reason' in plan) throw new Error(plan.message);
  const w = plan.window!;
  // 02:30 in Berlin in December (UTC+1) is 01:30 UTC.
  const inside = windowState(w, Date.parse('2026-12-03T01:30:00Z'));
  assert.equal(inside.open, true);
  assert.equal(inside.changesInMs, 30 * 60_000);
  const before = windowState(w, Date.parse('2026-12-03T00:30:00Z'));
  assert.equal(before.open, false);
  assert.equal(before.changesInMs, 30 * 60_000);
  assert.equal(windowState(w, Date.parse('2026-12-03T02:00:00Z')).open, false, 'closed at 03:00 Berlin');
});

const node = (status: object, baseOS = { version: '14.6.0' }) => ({ spec: { baseOS }, status });

test("EdgeNode status as a rollout state: fallback and failure keep EVE's text; committed only when the new partition is active", () => {
  const fell = observeDevice(
    node({
      eveVersion: '14.5.1',
      partitions: [
        { label: 'IMGA', version: '14.5.1', state: 'active' },
        { label: 'IMGB', version: '14.6.0', state: 'unused', status: 'FALLBACK', error: 'new image failed its test boot' },
      ],
    }),
    '14.6.0',
    true,
  );
  assert.deepEqual(fell, { state: 'FellBack', message: 'new image failed its test boot' });
  assert.equal(
    observeDevice(
      node({
        eveVersion: '14.6.0',
        partitions: [
          { version: '14.5.1', state: 'active' },
          { version: '14.6.0', state: 'inprogress' },
        ],
      }),
      '14.6.0',
      true,
    ).state,
    'Testing',
    'booted but not committed',
  );
  assert.equal(
    observeDevice(
      node({
        eveVersion: '14.6.0',
        partitions: [
          { version: '14.5.1', state: 'unused' },
          { version: '14.6.0', state: 'active', status: 'UPDATED' },
        ],
      }),
      '14.6.0',
      true,
    ).state,
    'Verifying',
  );
  assert.deepEqual(
    observeDevice(
      node({
        partitions: [
          { version: '14.5.1', state: 'active' },
          { version: '14.6.0', state: 'unused', status: 'DOWNLOADING', progress: 40 },
        ],
      }),
      '14.6.0',
      true,
    ),
    { state: 'Downloading', progress: 40 },
  );
  assert.equal(observeDevice(node({ partitions: [{ version: '14.6.0', state: 'unused', status: 'DOWNLOAD_DONE' }] }), '14.6.0', false).state, 'Staged');
  assert.equal(
    observeDevice(node({ partitions: [{ version: '14.6.0', state: 'unused', status: 'FAILED', error: 'sha mismatch' }] }), '14.6.0', true).message,
    'sha mismatch',
  );
  const apps = [
    { metadata: { namespace: 'ns', name: 'ok' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    { metadata: { namespace: 'ns', name: 'bad' }, status: { conditions: [{ type: 'Ready', status: 'False', reason: 'Error', message: 'did not start' }] } },
  ];
  assert.deepEqual(unreadyApps(apps), ['ns/bad (Error: did not start)']);
});
