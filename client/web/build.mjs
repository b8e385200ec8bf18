// Bundles src/ into dist/ (the editor's app.js, app.css, index.html; the actors map embed's
// actors.js, actors.css, Leaflet's images inlined): minified, no source map, no
// timestamp, so a fresh build of the same sources and lock file is byte-identical.
import { build } from 'esbuild'
import { copyFile, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const out = process.argv[2] ? process.argv[2] : join(here, 'dist')
await mkdir(out, { recursive: true })
const common = { bundle: true, minify: true, legalComments: 'eof', logLevel: 'warning', absWorkingDir: here }
await build({
  ...common,
  entryPoints: ['src/main.js'],
  outfile: join(out, 'app.js'),
  format: 'esm',
  target: ['es2020'],
  charset: 'utf8',
})
await build({ ...common, entryPoints: ['src/style.css'], outfile: join(out, 'app.css') })
await build({
  ...common,
  entryPoints: ['src/actors/main.js'],
  outfile: join(out, 'actors.js'),
  format: 'esm',
  target: ['es2020'],
  charset: 'utf8',
})
await build({ ...common, entryPoints: ['src/actors/style.css'], outfile: join(out, 'actors.css'), loader: { '.png': 'dataurl' } })
await copyFile(join(here, 'src', 'index.html'), join(out, 'index.html'))
