// Child process of the crash test in sqlite.test.ts: creates keys as fast as it can and prints
// "<revision> <key>" once each create has returned, until it is killed.
import { SqliteStorage } from '../../src/apiserver/storage/sqlite.ts';

const storage = SqliteStorage.open(process.argv[2]);
for (let i = 0; ; i++) {
  const key = `/crash/${String(i).padStart(9, '0')}`;
  const revision = await storage.create(key, JSON.stringify({ i }));
  process.stdout.write(`${revision} ${key}\n`);
}
