// CPU profile of this process over a window (for benchmarks): the inspector's sampling profiler,
// written as a .cpuprofile file that Chrome DevTools and speedscope open.
import fs from 'node:fs';
import path from 'node:path';
import { Session } from 'node:inspector/promises';

export interface CpuProfile {
  stop(file: string): Promise<void>;
}

export async function startCpuProfile(): Promise<CpuProfile> {
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await s.post('Profiler.stop');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify(profile));
      s.disconnect();
    },
  };
}
