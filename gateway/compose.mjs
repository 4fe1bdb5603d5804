#!/usr/bin/env node
// Compose the federation supergraph from the subgraph SDLs in subgraphs/.
//
//   node compose.mjs            write supergraph.graphql
//   node compose.mjs --check    exit 1 if supergraph.graphql is stale, 0 if up to date
//
// Options (mainly for tests / scratch runs):
//   --subgraphs DIR   directory with <name>.graphql files and urls.json (default: ./subgraphs)
//   --out FILE        supergraph file to write / check (default: ./supergraph.graphql)
//
// Relative paths are resolved against the current working directory; the
// defaults are relative to this script's directory (gateway/).
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'graphql';
import { composeServices, compositionHasErrors } from '@theguild/federation-composition';

const here = dirname(fileURLToPath(import.meta.url));

function usage(msg) {
  if (msg) console.error(`compose: ${msg}`);
  console.error('usage: node compose.mjs [--check] [--subgraphs DIR] [--out FILE]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    check: false,
    subgraphsDir: join(here, 'subgraphs'),
    out: join(here, 'supergraph.graphql'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') opts.check = true;
    else if (a === '--subgraphs') opts.subgraphsDir = resolve(argv[++i] ?? usage('--subgraphs needs a value'));
    else if (a === '--out') opts.out = resolve(argv[++i] ?? usage('--out needs a value'));
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  return opts;
}

// Byte-order independent, locale independent ordering.
const byCodePoint = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

export function loadServices(subgraphsDir) {
  if (!existsSync(subgraphsDir)) throw new Error(`subgraphs directory not found: ${subgraphsDir}`);
  const urlsPath = join(subgraphsDir, 'urls.json');
  if (!existsSync(urlsPath)) throw new Error(`missing ${urlsPath}`);
  const urls = JSON.parse(readFileSync(urlsPath, 'utf8'));
  if (urls === null || typeof urls !== 'object' || Array.isArray(urls)) {
    throw new Error(`${urlsPath} must be a JSON object {"<subgraph>": "<url>"}`);
  }
  const files = readdirSync(subgraphsDir)
    .filter((f) => f.endsWith('.graphql'))
    .sort(byCodePoint);
  if (files.length === 0) throw new Error(`no *.graphql files in ${subgraphsDir}`);

  const problems = [];
  const services = files.map((file) => {
    const name = basename(file, '.graphql');
    const url = urls[name];
    if (typeof url !== 'string' || url === '') problems.push(`no URL for subgraph "${name}" in urls.json`);
    const sdl = readFileSync(join(subgraphsDir, file), 'utf8');
    let typeDefs;
    try {
      typeDefs = parse(sdl);
    } catch (err) {
      problems.push(`${file}: ${err.message}`);
    }
    return { name, url, typeDefs };
  });
  const names = new Set(services.map((s) => s.name));
  for (const name of Object.keys(urls).sort(byCodePoint)) {
    if (!names.has(name)) problems.push(`urls.json names "${name}" but ${name}.graphql does not exist`);
  }
  if (problems.length) throw new Error(problems.join('\n'));
  return services;
}

export function compose(subgraphsDir) {
  const services = loadServices(subgraphsDir);
  const result = composeServices(services);
  if (compositionHasErrors(result)) {
    const lines = result.errors.map((e) => {
      const code = e.extensions?.code ? `[${e.extensions.code}] ` : '';
      return `  - ${code}${e.message}`;
    });
    const err = new Error(`composition failed with ${result.errors.length} error(s):\n${lines.join('\n')}`);
    err.compositionErrors = result.errors;
    throw err;
  }
  let sdl = result.supergraphSdl;
  if (!sdl.endsWith('\n')) sdl += '\n';
  return sdl;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  let sdl;
  try {
    sdl = compose(opts.subgraphsDir);
  } catch (err) {
    console.error(`compose: ${err.message}`);
    process.exit(1);
  }
  if (opts.check) {
    const current = existsSync(opts.out) ? readFileSync(opts.out, 'utf8') : null;
    if (current === sdl) {
      console.log(`compose: ${opts.out} is up to date`);
      process.exit(0);
    }
    console.error(
      current === null
        ? `compose: ${opts.out} does not exist; run \`node compose.mjs\` in gateway/`
        : `compose: ${opts.out} is out of date with subgraphs/; run \`node compose.mjs\` in gateway/ and commit the result`,
    );
    process.exit(1);
  }
  writeFileSync(opts.out, sdl);
  console.log(`compose: wrote ${opts.out}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main();
}
