#!/usr/bin/env node
// Speaks native solc's command line over the npm `solc` package (official solcjs, wasm), so that
// py-solc-x, forge, brownie and slither can use it on machines where no native solc can be downloaded.
// Supported: --version, --help, --standard-json (JSON on stdin, output JSON on stdout),
// --base-path, --include-path (repeatable); --allow-paths and unknown flags are accepted and ignored.
'use strict';
const fs = require('fs');
const path = require('path');

function loadSolc() {
  try {
    return require('solc');
  } catch (err) {
    process.stderr.write(`solc-shim: the npm package "solc" is not installed next to ${__dirname}: run "npm ci" in the repository root\n`);
    process.exit(1);
  }
}

function parseArgs(argv) {
  const opts = { mode: null, basePath: null, includePaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const takeValue = () => {
      const eq = arg.indexOf('=');
      if (eq !== -1) return arg.slice(eq + 1);
      i += 1;
      return argv[i];
    };
    if (arg === '--version' || arg === '-v') opts.mode = 'version';
    else if (arg === '--help' || arg === '-h') opts.mode = 'help';
    else if (arg === '--standard-json') opts.mode = 'standard-json';
    else if (arg.startsWith('--base-path')) opts.basePath = takeValue();
    else if (arg.startsWith('--include-path')) opts.includePaths.push(takeValue());
    else if (arg.startsWith('--allow-paths')) takeValue();
    // Anything else (e.g. --optimize on the command line) is ignored: standard JSON carries the settings.
  }
  return opts;
}

function makeImportReader(opts) {
  const roots = [];
  if (opts.basePath) roots.push(opts.basePath);
  roots.push(process.cwd());
  for (const p of opts.includePaths) roots.push(p);
  return function readImport(importPath) {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((root) => path.resolve(root, importPath));
    for (const candidate of candidates) {
      try {
        return { contents: fs.readFileSync(candidate, 'utf8') };
      } catch (err) {
        // try the next root
      }
    }
    return { error: `File not found: ${importPath} (looked in ${roots.join(', ')})` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.mode === 'version') {
    const solc = loadSolc();
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (opts.mode === 'help' || opts.mode === null) {
    process.stdout.write(
      'solc-shim: native solc command line over solcjs\n' +
      'Usage: solc --version | solc --standard-json [--base-path P] [--include-path P]... < input.json\n'
    );
    return;
  }
  const input = fs.readFileSync(0, 'utf8');
  const solc = loadSolc();
  const output = solc.compile(input, { import: makeImportReader(opts) });
  process.stdout.write(output);
  process.stdout.write('\n');
}

main();
