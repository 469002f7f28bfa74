// The package's TypeScript declarations, as a TypeScript host sees them: the tarball installed in
// a fresh folder, a consumer (tests/types/consumer.ts) resolving it through package.json
// `exports`, compiled by tsc in strict mode. A missing or wrong declaration fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, installPackage } from '../support/processes.mjs';

test('TypeScript declarations: a strict consumer of the installed package compiles', (t) => {
  const pkg = installPackage();
  t.after(() => rmSync(pkg.dir, { recursive: true, force: true }));
  copyFileSync(join(ROOT, 'tests', 'types', 'consumer.ts'), join(pkg.dir, 'consumer.ts'));
  writeFileSync(join(pkg.dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM'], types: [] },
    files: ['consumer.ts'],
  }));
  const tsc = join(ROOT, 'tests', 'node_modules', '.bin', 'tsc');
  let out = '';
  try {
    out = execFileSync(tsc, ['-p', pkg.dir], { encoding: 'utf8' });
  } catch (e) {
    out = `${e.stdout}${e.stderr}`;
    assert.fail(`tsc found errors:\n${out}`);
  }
  const version = execFileSync(tsc, ['--version'], { encoding: 'utf8' }).trim();
  console.log(`E2E types: ${version}, strict, consumer.ts against the installed package: no error`);
  // And a wrong use is caught (the check can fail).
  writeFileSync(join(pkg.dir, 'bad.ts'), "import { StreamPlayer } from '@stream-engine/player';\nnew StreamPlayer({ preset: 'loud' });\n");
  writeFileSync(join(pkg.dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM'], types: [] },
    files: ['bad.ts'],
  }));
  assert.throws(() => execFileSync(tsc, ['-p', pkg.dir], { encoding: 'utf8' }), (e) => /"loud"/.test(String(e.stdout)));
});
