// What /version and `kubeve --version` report: kubeve's own version (package.json) and git commit,
// inside kube's version.Info with the emulated Kubernetes minor kept at 1.32 (kubectl's version skew
// check and clients' feature gates read major/minor and the gitVersion's "v1.32" prefix).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const EMULATED = { major: '1', minor: '32' };

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** The checkout's commit (env KUBEVE_GIT_COMMIT wins, for installs without .git). */
function gitInfo(): { commit: string; treeState: string } {
  const env = process.env.KUBEVE_GIT_COMMIT;
  if (env) return { commit: env, treeState: 'clean' };
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 2000,
      }).trim() !== '';
    return { commit, treeState: dirty ? 'dirty' : 'clean' };
  } catch {
    return { commit: '', treeState: '' };
  }
}

let cached: ReturnType<typeof compute> | undefined;

function compute() {
  const version = packageVersion();
  const git = gitInfo();
  return {
    kubeveVersion: version,
    info: {
      major: EMULATED.major,
      minor: EMULATED.minor,
      // Semver build metadata carries kubeve's own version; the emulated Kubernetes version stays first.
      gitVersion: `v${EMULATED.major}.${EMULATED.minor}.0+kubeve-${version}`,
      gitCommit: git.commit,
      gitTreeState: git.treeState,
      buildDate: '',
      goVersion: `node ${process.version}`,
      compiler: 'tsx',
      platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
    },
  };
}

/** kube's version.Info for /version (computed once per process). */
export function versionInfo() {
  return (cached ??= compute()).info;
}

/** `kubeve --version`: kubeve's version, commit and the Kubernetes API version it serves. */
export function versionLine(): string {
  const v = (cached ??= compute());
  return `kubeve ${v.kubeveVersion}${v.info.gitCommit ? ` (${v.info.gitCommit.slice(0, 12)}${v.info.gitTreeState === 'dirty' ? '-dirty' : ''})` : ''}, Kubernetes API v${EMULATED.major}.${EMULATED.minor}`;
}
