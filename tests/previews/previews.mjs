// Link previews as real parsers read them (issue 20): open-graph-scraper
// (fetching the page itself, as a chat unfurler does) and metascraper (with
// its title, description and image rules) read each gallery and image page
// of a running pixbin and must find a title, a description and an image URL
// that answers 200 with an image type. A view-limited image's page must offer
// no picture at all (fetching it would spend a view).
//
// Usage: node previews.mjs   (PIXBIN_BIN names the binary; default
// target/debug/pixbin). Starts the server on a free port with a temporary data
// directory and prints "N passed, M failed"; exits 1 on any failure.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ogs from 'open-graph-scraper';
import createMetascraper from 'metascraper';
import metaTitle from 'metascraper-title';
import metaDescription from 'metascraper-description';
import metaImage from 'metascraper-image';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const BIN = path.resolve(repo, process.env.PIXBIN_BIN || 'target/debug/pixbin');
const PASSWORD = 'preview-test-password';
const metascraper = createMetascraper([metaTitle(), metaDescription(), metaImage()]);

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}: ${detail}`);
  }
}

/** Starts pixbin; resolves with its base URL, upload key and process. */
async function start(dataDir) {
  const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    env: { ...process.env, PIXBIN_ADMIN_PASSWORD: PASSWORD, PIXBIN_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let key = '';
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.startsWith('created upload key: ')) key = line.slice(20).trim();
    if (line.startsWith('pixbin listening on ')) {
      child.stdout.resume();
      return { child, key, base: line.slice(20).trim() };
    }
  }
  throw new Error('the server exited before listening');
}

async function imageAnswers(url) {
  const res = await fetch(url);
  await res.arrayBuffer();
  return { status: res.status, type: res.headers.get('content-type') || '' };
}

/** Both parsers on one page; `picture` says whether an image must be found. */
async function readPage(label, url, picture) {
  const { error, result } = await ogs({ url, timeout: 10 });
  check(`${label}: open-graph-scraper reads the page`, !error, JSON.stringify(result).slice(0, 300));
  check(`${label}: og title`, Boolean(result.ogTitle), result.ogTitle);
  check(`${label}: og description`, Boolean(result.ogDescription), result.ogDescription);
  const html = await (await fetch(url)).text();
  const meta = await metascraper({ html, url });
  check(`${label}: metascraper title`, Boolean(meta.title), meta.title);
  check(`${label}: metascraper description`, Boolean(meta.description), meta.description);
  const images = [result.ogImage?.[0]?.url, meta.image];
  if (!picture) {
    check(`${label}: no picture offered`, images.every((i) => !i), images.join(' '));
    return;
  }
  for (const [who, img] of [['open-graph-scraper', images[0]], ['metascraper', images[1]]]) {
    if (!img) {
      check(`${label}: ${who} image`, false, 'none found');
      continue;
    }
    const { status, type } = await imageAnswers(img);
    check(`${label}: ${who} image answers 200 image/*`, status === 200 && type.startsWith('image/'), `${status} ${type} ${img}`);
  }
  check(`${label}: og:image width and height`, Number(result.ogImage?.[0]?.width) > 0 && Number(result.ogImage?.[0]?.height) > 0, JSON.stringify(result.ogImage));
}

async function main() {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'pixbin-previews-'));
  const { child, key, base } = await start(dataDir);
  try {
    const login = await fetch(`${base}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    const { csrfToken } = await login.json();
    const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const upload = async (file, fields = {}) => {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      const bytes = await readFile(path.join(repo, 'tests/fixtures/real', file));
      form.append('file', new Blob([bytes]), file);
      const res = await fetch(`${base}/api/upload`, {
        method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form,
      });
      if (res.status !== 200) throw new Error(`upload ${file}: ${res.status} ${await res.text()}`);
      return res.json();
    };
    const png = await upload('chelsea.png');
    const jpeg = await upload('rocket.jpg');
    const limited = await upload('coffee.png', { max_views: '1' });
    const res = await fetch(`${base}/api/albums`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken, cookie },
      body: JSON.stringify({
        title: 'Preview test', description: 'Two pictures for the parsers',
        visibility: 'public', images: [png.id, jpeg.id, limited.id],
      }),
    });
    const album = await res.json();
    if (res.status !== 201) throw new Error(`album: ${res.status} ${JSON.stringify(album)}`);
    const bare = await fetch(`${base}/api/albums`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken, cookie },
      body: JSON.stringify({ title: 'No description' }),
    }).then((r) => r.json());

    await readPage('gallery', `${base}/a/${album.id}`, true);
    await readPage('gallery without a description', `${base}/a/${bare.id}`, false);
    await readPage('image page (PNG)', `${base}/v/${png.uuid}`, true);
    await readPage('image page (JPEG)', `${base}/v/${jpeg.uuid}`, true);
    await readPage('image page (view-limited)', `${base}/v/${limited.uuid}`, false);
    const after = await fetch(`${base}/api/images/${limited.id}`, { headers: { cookie } }).then((r) => r.json());
    check('the view-limited image kept its view', after.viewsLeft === 1, JSON.stringify(after.viewsLeft));
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill();
    await exited;
    await rm(dataDir, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
