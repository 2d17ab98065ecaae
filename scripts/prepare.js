#!/usr/bin/env node
// `npm install` runs `prepare` in a clone and when installing from a git URL, never for a registry tarball. In a
// clone it builds the addon and the TypeScript; anywhere without the sources (crates/ and src/) it does nothing,
// so no install ever warns about a build it cannot run.
const fs = require('node:fs');
const path = require('node:path');
const { execSync } = require('node:child_process');

const root = path.join(__dirname, '..');
if (!fs.existsSync(path.join(root, 'crates')) || !fs.existsSync(path.join(root, 'src'))) process.exit(0);
execSync('npm run build', { cwd: root, stdio: 'inherit' });
