// Builds the console: `node build.mjs [--outdir DIR]` (default dist) writes exactly three files
// into DIR: index.html, console.js (one minified ES module, Preact included) and console.css (Pico
// and our tweaks). The vault embeds these three files and serves nothing else, so anything the
// CSS references must be inlined and the JS must be a single chunk. Exits non-zero on any error.
// Runs on Node 18 and later (no Node 20-only APIs).
import * as esbuild from 'esbuild';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  let outdir = 'dist';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--outdir' && i + 1 < argv.length) {
      outdir = argv[++i];
    } else if (arg.startsWith('--outdir=')) {
      outdir = arg.slice('--outdir='.length);
    } else {
      throw new Error(`unknown argument '${arg}' (usage: node build.mjs [--outdir DIR])`);
    }
  }
  if (!outdir) throw new Error('--outdir needs a directory');
  return { outdir: path.resolve(outdir) };
}

// Common settings: nothing written by esbuild itself (we write the files), no maps, no chunks.
const common = {
  absWorkingDir: here,
  bundle: true,
  minify: true,
  write: false,
  sourcemap: false,
  splitting: false,
  logLevel: 'warning',
  legalComments: 'eof',
  target: 'es2020',
};

async function buildJs() {
  const result = await esbuild.build({
    ...common,
    entryPoints: ['src/main.jsx'],
    outfile: 'out/console.js',
    format: 'esm',
    platform: 'browser',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    // A stylesheet imported from JS would become a second CSS file: the CSS has its own build.
    loader: { '.js': 'jsx', '.jsx': 'jsx', '.css': 'empty' },
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  return single(result, '.js');
}

async function buildCss() {
  const result = await esbuild.build({
    ...common,
    entryPoints: ['src/console.css'],
    outfile: 'out/console.css',
    // Any file the CSS points at is inlined: only the three files are served.
    loader: { '.svg': 'dataurl', '.png': 'dataurl', '.woff': 'dataurl', '.woff2': 'dataurl', '.gif': 'dataurl' },
  });
  const css = single(result, '.css');
  for (const m of css.matchAll(/url\(\s*(['"]?)([^'")]*)\1\s*\)/g)) {
    if (!m[2].startsWith('data:')) throw new Error(`console.css references a file that would not be served: ${m[2]}`);
  }
  if (/@import/.test(css)) throw new Error('console.css still holds an @import');
  return css;
}

function single(result, ext) {
  const files = result.outputFiles.filter((f) => !f.path.endsWith('.map'));
  if (files.length !== 1 || !files[0].path.endsWith(ext) || result.outputFiles.length !== 1) {
    throw new Error(`expected one ${ext} output, got: ${result.outputFiles.map((f) => path.basename(f.path)).join(', ')}`);
  }
  return files[0].text;
}

// The page is served with a CSP that has no 'unsafe-inline': refuse inline scripts and styles.
async function readIndex() {
  const html = await readFile(path.join(here, 'index.html'), 'utf8');
  if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(html)) throw new Error('index.html has an inline <script>');
  if (/<style\b/i.test(html) || /\sstyle\s*=/i.test(html)) throw new Error('index.html has an inline style');
  if (/\son[a-z]+\s*=/i.test(html)) throw new Error('index.html has an inline event handler');
  return html;
}

async function main() {
  const { outdir } = parseArgs(process.argv.slice(2));
  const [html, js, css] = await Promise.all([readIndex(), buildJs(), buildCss()]);
  await mkdir(outdir, { recursive: true });
  await Promise.all([
    writeFile(path.join(outdir, 'index.html'), html),
    writeFile(path.join(outdir, 'console.js'), js),
    writeFile(path.join(outdir, 'console.css'), css),
  ]);
  const kb = (s) => (Buffer.byteLength(s) / 1024).toFixed(1);
  console.log(`console: wrote ${outdir}/{index.html, console.js ${kb(js)} KiB, console.css ${kb(css)} KiB}`);
}

main().catch((err) => {
  // esbuild has already printed its own diagnostics; say what failed and exit non-zero.
  console.error(`console build failed: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
