// A stand-in for the pixbin server that follows the admin API contract, kept
// in memory. It lets the admin UI be developed and its browser suite run
// without building the Rust server:  ./run.sh --mock
//
// It is deliberately simple (no argon2, no rate limiting beyond a counter) and
// is never used to judge the real server.

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ASSETS = path.resolve(here, '..', '..', 'assets', 'admin');
let PASSWORD = process.env.PIXBIN_ADMIN_PASSWORD || 'test-password';
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const TYPES = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.html': 'text/html; charset=utf-8', '.json': 'application/json' };
const ASSET_PREFIX = `/admin/static-${randomBytes(4).toString('hex')}`;

const sessions = new Map(); // token -> { csrf, expires }
const images = new Map(); // id -> record
const keys = new Map(); // id -> { id, name, prefix, hash, createdAt, lastUsedAt }
const views = []; // { imageId, uuid, at, country, referrer, agent, ip }
let nextImageId = 1;
let nextKeyId = 1;
let failedLogins = 0;
let base = '';
// Runtime upload defaults and the effective configuration (GET/PUT /api/settings).
const settings = {
  upload: { maxBytes: 25_000_000, allowedTypes: ['png', 'jpeg', 'gif', 'webp'], privateByDefault: false, defaultExpirySeconds: null, stripMode: 'gps' },
  geoip: false,
};
const fromEnv = new Set((process.env.MOCK_SETTINGS_FROM_ENV || '').split(',').filter(Boolean));
function settingsJson() {
  const u = settings.upload;
  const entry = (name, value, runtime) => ({ name, value, source: fromEnv.has(name) ? 'env' : runtime && u[`_${name}`] ? 'database' : 'default', runtime, overriddenByEnv: fromEnv.has(name) });
  return {
    upload: { maxBytes: u.maxBytes, allowedTypes: u.allowedTypes, privateByDefault: u.privateByDefault, defaultExpirySeconds: u.defaultExpirySeconds, stripMode: u.stripMode },
    geoip: settings.geoip,
    effective: [
      entry('listen', '127.0.0.1:0', false), entry('dataDir', '/tmp/mock', false), entry('maxUploadBytes', u.maxBytes, false),
      entry('privateByDefault', u.privateByDefault, true), entry('defaultExpirySeconds', u.defaultExpirySeconds, true),
      entry('stripMode', u.stripMode, true), entry('allowedTypes', u.allowedTypes, true), entry('adminPassword', '(set)', false),
    ],
  };
}

const b64 = (n) => randomBytes(n).toString('base64url');
const now = () => new Date().toISOString();

function imageJson(r, withDeletion = false) {
  const key = r.isPrivate ? `?key=${r.key}` : '';
  return {
    id: r.id, uuid: r.uuid, filename: r.filename, extension: r.extension, size: r.bytes.length,
    uploadedAt: r.uploadedAt, isPrivate: r.isPrivate, views: r.views,
    url: `${base}/${r.uuid}.${r.extension}${key}`, full_link: `${base}/${r.uuid}.${r.extension}${key}`,
    width: r.width, height: r.height, contentType: r.contentType, hash: r.hash,
    thumbnail_url: `${base}/thumb/${r.uuid}.${r.extension}${key}`,
    deletion_url: withDeletion ? `${base}/api/delete/${r.uuid}?token=${r.deletionToken}` : null,
    thumbUrl: `/api/proxy/thumb/${r.uuid}.${r.extension}`,
    metadata: { present: r.extension === 'png' ? [{ kind: 'text', detail: 'Software' }] : [], stripped: [] },
    expiresAt: r.expiresAt ?? null, maxViews: r.maxViews ?? null,
    viewsLeft: r.maxViews == null ? null : Math.max(0, r.maxViews - (r.consumed || 0)),
  };
}

/** PATCH /api/images/{id} as the server parses it; returns an error [status, code, message] or null. */
function editLifecycle(r, b) {
  const change = {};
  for (const [k, v] of Object.entries(b)) {
    if (k === 'expiresAt' && v === null) change.expiresAt = null;
    else if (k === 'expiresAt' && typeof v === 'string') {
      const s = v.trim();
      const d = /^(\d{1,12})([smhdw])$/.exec(s);
      if (/^never$/i.test(s)) change.expiresAt = null;
      else if (d && Number(d[1]) > 0) change.expiresAt = new Date(Date.now() + Number(d[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[d[2]] * 1000).toISOString();
      else if (s.length > 10 && !Number.isNaN(Date.parse(s))) {
        if (Date.parse(s) <= Date.now()) return [400, 'invalid_request', 'expiresAt is in the past'];
        change.expiresAt = new Date(Date.parse(s)).toISOString();
      } else return [400, 'invalid_request', 'expires must be a duration (30m, 12h, 7d, 4w), an RFC 3339 time, or never'];
    } else if (k === 'maxViews' && v === null) change.maxViews = null;
    else if (k === 'maxViews' && Number.isInteger(v) && v >= 1 && v <= 1e9) change.maxViews = v;
    else if (k === 'maxViews' && typeof v === 'number') return [400, 'invalid_request', 'maxViews must be a whole number from 1 to 1000000000'];
    else if (k === 'expiresAt' || k === 'maxViews') return [400, 'invalid_request', `${k} has the wrong type`];
    else return [400, 'invalid_request', `unknown field ${JSON.stringify(k.slice(0, 40))}`];
  }
  Object.assign(r, change);
  return null;
}

function send(res, status, body, headers = {}) {
  const data = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  if (status === 204) {
    res.writeHead(204, { 'Cache-Control': 'no-store', ...headers });
    return res.end();
  }
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(data);
}
const err = (res, status, code, error, headers) => send(res, status, { error, code }, headers);

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie || '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k) out[k] = v.join('=');
  }
  return out;
}

function currentSession(req) {
  const s = sessions.get(cookies(req).pixbin_session);
  return s && s.expires > Date.now() ? s : null;
}

function newSession(res) {
  const token = b64(32);
  const s = { csrf: b64(24), expires: Date.now() + 7 * 86400e3, token, id: b64(9), createdAt: now(), agent: res.req?.headers['user-agent'] || null };
  sessions.set(token, s);
  res.setHeader('Set-Cookie', [
    `pixbin_session=${token}; Path=/; HttpOnly; SameSite=Strict`,
    `pixbin_csrf=${s.csrf}; Path=/; SameSite=Strict`,
  ]);
  return s;
}

const sessionJson = (s) => ({ username: 'admin', role: 'admin', csrfToken: s.csrf, expiresAt: new Date(s.expires).toISOString(), baseUrl: base, version: '0.1.0-mock' });

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}

function sniff(buf) {
  if (buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return { extension: 'png', contentType: 'image/png', width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
  }
  if (buf[0] === 0xff && buf[1] === 0xd8) return { extension: 'jpg', contentType: 'image/jpeg', width: null, height: null };
  if (buf.subarray(0, 3).toString() === 'GIF') return { extension: 'gif', contentType: 'image/gif', width: buf.readUInt16LE(6), height: buf.readUInt16LE(8) };
  if (buf.subarray(8, 12).toString() === 'WEBP') return { extension: 'webp', contentType: 'image/webp', width: null, height: null };
  return null;
}

async function handleUpload(req, res, viaSession) {
  if (!viaSession) {
    const auth = req.headers.authorization || '';
    const key = auth.startsWith('Bearer ') ? auth.slice(7) : req.headers['x-upload-key'];
    const hash = key && createHash('sha256').update(key).digest('hex');
    const found = [...keys.values()].find((k) => k.hash === hash);
    if (!found) return err(res, 401, 'unauthorized', 'Missing or invalid upload key');
    found.lastUsedAt = now();
  }
  const raw = await body(req);
  let form;
  try {
    form = await new Request('http://x/', { method: 'POST', headers: { 'content-type': req.headers['content-type'] || '' }, body: raw }).formData();
  } catch {
    return err(res, 400, 'invalid_request', 'Expected a multipart form');
  }
  let file = null;
  for (const [, v] of form) if (typeof v === 'object' && v && 'arrayBuffer' in v) { file = v; break; }
  if (!file) return err(res, 400, 'invalid_request', 'No file part');
  const bytes = Buffer.from(await file.arrayBuffer());
  const kind = sniff(bytes);
  if (!kind) return err(res, 400, 'type_not_allowed', 'file type not allowed (detected: unknown)');
  if (kind.extension === 'png' && !bytes.subarray(-12).toString('latin1').includes('IEND')) return err(res, 400, 'invalid_image', 'invalid image: PNG is truncated (no IEND chunk at the end)');
  const r = {
    id: nextImageId++, uuid: randomUUID(), filename: (file.name || `upload.${kind.extension}`).slice(0, 255), ...kind, bytes,
    uploadedAt: now(), isPrivate: form.get('private') === null ? settings.upload.privateByDefault : form.get('private') === 'true', views: 0, key: b64(16), deletionToken: b64(16),
    maxViews: Number(form.get('max_views')) > 0 ? Number(form.get('max_views')) : null,
    expiresAt: settings.upload.defaultExpirySeconds && !form.get('expires') ? new Date(Date.now() + settings.upload.defaultExpirySeconds * 1000).toISOString() : null,
    hash: createHash('sha256').update(bytes).digest('hex'),
  };
  images.set(r.id, r);
  return send(res, 200, imageJson(r, true));
}

function findImage(idOrUuid) {
  if (/^\d+$/.test(idOrUuid)) return images.get(Number(idOrUuid));
  return [...images.values()].find((r) => r.uuid === idOrUuid);
}

function dayKey(iso) { return iso.slice(0, 10); }

function statsDays(list, days) {
  const out = [];
  const today = new Date();
  for (let i = days - 1; i >= 0; i -= 1) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i)).toISOString().slice(0, 10);
    const vs = list.filter((v) => dayKey(v.at) === d);
    out.push({ date: d, views: vs.length, unique: new Set(vs.map((v) => v.ip)).size });
  }
  return out;
}
function countriesOf(list) {
  const m = new Map();
  for (const v of list) m.set(v.country, (m.get(v.country) || 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1]).map(([country, n]) => ({ country, views: n, percent: (n / list.length) * 100 }));
}
function referrersOf(list) {
  const m = new Map();
  for (const v of list) m.set(v.referrer, (m.get(v.referrer) || 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1]).map(([host, n]) => ({ host, views: n }));
}

async function route(req, res) {
  const url = new URL(req.url, base);
  const p = url.pathname;
  const m = req.method;

  // ---- admin UI
  if (m === 'GET' && p.startsWith(`${ASSET_PREFIX}/`)) {
    const rel = path.normalize(p.slice(ASSET_PREFIX.length + 1));
    if (rel.startsWith('..')) return err(res, 404, 'not_found', 'Not found');
    try {
      const data = await readFile(path.join(ASSETS, rel));
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(rel)] || 'application/octet-stream', 'Cache-Control': 'public, max-age=31536000, immutable', 'X-Content-Type-Options': 'nosniff' });
      return res.end(data);
    } catch {
      return err(res, 404, 'not_found', 'Not found');
    }
  }
  if (m === 'GET' && (p === '/admin' || p.startsWith('/admin/'))) {
    const html = (await readFile(path.join(ASSETS, 'index.html'), 'utf8')).replaceAll('{{ASSET_BASE}}', ASSET_PREFIX);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache', 'Content-Security-Policy': CSP, 'Referrer-Policy': 'no-referrer', 'X-Content-Type-Options': 'nosniff' });
    return res.end(html);
  }

  // ---- public image serving
  const pub = /^\/(thumb\/)?([0-9a-f-]{36})\.(\w+)$/.exec(p);
  if (m === 'GET' && pub) {
    const r = findImage(pub[2]);
    if (!r || r.extension !== pub[3] || (r.isPrivate && url.searchParams.get('key') !== r.key)) return err(res, 404, 'not_found', 'Not found');
    if (!pub[1]) {
      r.views += 1;
      if (r.maxViews != null) r.consumed = (r.consumed || 0) + 1;
      views.unshift({ imageId: r.id, uuid: r.uuid, at: now(), country: ['GB', 'US', 'DE', 'FR'][r.views % 4], referrer: r.views % 2 ? 'discord.com' : null, agent: req.headers['user-agent'] || null, ip: req.socket.remoteAddress });
    }
    res.writeHead(200, { 'Content-Type': r.contentType, 'Content-Security-Policy': "default-src 'none'; sandbox", 'X-Content-Type-Options': 'nosniff' });
    return res.end(r.bytes);
  }

  // ---- auth
  if (m === 'POST' && p === '/api/login') {
    if (failedLogins >= 5) return err(res, 429, 'rate_limited', 'Too many attempts', { 'Retry-After': '30' });
    const b = JSON.parse((await body(req)).toString() || '{}');
    if (b.username !== 'admin' || b.password !== PASSWORD) { failedLogins += 1; return err(res, 401, 'invalid_credentials', 'Wrong username or password'); }
    failedLogins = 0;
    return send(res, 200, sessionJson(newSession(res)));
  }
  if (m === 'POST' && p === '/api/upload' && req.headers.authorization) return handleUpload(req, res, false);

  const s = currentSession(req);
  if (p.startsWith('/api/') && !s) return err(res, 401, 'unauthorized', 'Not signed in');
  if (m !== 'GET' && req.headers['x-csrf-token'] !== s.csrf) return err(res, 403, 'csrf', 'Bad CSRF token');

  if (m === 'GET' && p === '/api/session') return send(res, 200, sessionJson(s));
  // One account, the admin: enough for the Users and Account pages to render.
  if (m === 'GET' && (p === '/api/me' || p === '/api/users')) {
    const me = {
      name: 'admin', role: 'admin', disabled: false, createdAt: new Date(0).toISOString(), lastSeenAt: new Date().toISOString(),
      usage: { images: images.size, bytes: [...images.values()].reduce((n, r) => n + r.bytes.length, 0) }, quota: { images: null, bytes: null },
    };
    return send(res, 200, p === '/api/me' ? me : { users: [me] });
  }
  if (m === 'GET' && p === '/api/invites') return send(res, 200, { invites: [], registration: 'closed' });
  if (m === 'POST' && p === '/api/refresh') {
    sessions.delete(s.token);
    return send(res, 200, sessionJson(newSession(res)));
  }
  if (m === 'POST' && p === '/api/logout') {
    sessions.delete(s.token);
    res.setHeader('Set-Cookie', ['pixbin_session=; Path=/; Max-Age=0', 'pixbin_csrf=; Path=/; Max-Age=0']);
    return send(res, 200, { ok: true });
  }
  if (m === 'POST' && p === '/api/upload') return handleUpload(req, res, true);
  if (m === 'GET' && p === '/api/list') {
    let list = [...images.values()].sort((a, b) => b.id - a.id);
    const type = url.searchParams.get('type');
    if (type === 'public') list = list.filter((r) => !r.isPrivate);
    if (type === 'private') list = list.filter((r) => r.isPrivate);
    const q = (url.searchParams.get('q') || '').toLowerCase();
    if (q) list = list.filter((r) => r.filename.toLowerCase().includes(q));
    const from = url.searchParams.get('from');
    const to = url.searchParams.get('to');
    if (from) list = list.filter((r) => r.uploadedAt >= new Date(from).toISOString());
    if (to) list = list.filter((r) => r.uploadedAt <= new Date(to).toISOString());
    const status = url.searchParams.get('status') || 'active';
    const gone = (r) => (r.expiresAt && Date.parse(r.expiresAt) <= Date.now()) || (r.maxViews != null && (r.consumed || 0) >= r.maxViews);
    if (status === 'expired') list = list.filter(gone);
    else if (status === 'expiring') list = list.filter((r) => !gone(r) && (r.expiresAt || r.maxViews != null));
    else if (status !== 'all') list = list.filter((r) => !gone(r));
    const sort = url.searchParams.get('sort') || 'date';
    const dir = url.searchParams.get('order') === 'asc' ? 1 : -1;
    const keyOf = { date: (r) => r.id, size: (r) => r.bytes.length, views: (r) => r.views, name: (r) => r.filename.toLowerCase() }[sort] || ((r) => r.id);
    list.sort((a, b) => (keyOf(a) < keyOf(b) ? -dir : keyOf(a) > keyOf(b) ? dir : b.id - a.id));
    const cursor = Number(url.searchParams.get('cursor') || 0);
    if (cursor) list = list.filter((r) => r.id < cursor);
    const limit = Math.min(100, Number(url.searchParams.get('limit') || 50));
    const page = list.slice(0, limit);
    return send(res, 200, { images: page.map((r) => imageJson(r)), nextCursor: list.length > limit ? String(page[page.length - 1].id) : null });
  }
  const img = /^\/api\/images\/([^/]+)(?:\/(privacy|rotate-key|stats))?$/.exec(p);
  if (img) {
    const r = findImage(img[1]);
    if (!r) return err(res, 404, 'not_found', 'No such image');
    if (m === 'GET' && !img[2]) return send(res, 200, imageJson(r));
    if (m === 'PATCH' && !img[2]) {
      let b;
      try { b = JSON.parse((await body(req)).toString()); } catch { return err(res, 400, 'invalid_request', 'Expected a JSON object'); }
      if (!b || typeof b !== 'object' || Array.isArray(b)) return err(res, 400, 'invalid_request', 'Expected a JSON object');
      const e = editLifecycle(r, b);
      return e ? err(res, ...e) : send(res, 200, imageJson(r));
    }
    if (m === 'POST' && img[2] === 'privacy') {
      r.isPrivate = Boolean(JSON.parse((await body(req)).toString()).isPrivate);
      return send(res, 200, imageJson(r));
    }
    if (m === 'POST' && img[2] === 'rotate-key') { r.key = b64(16); return send(res, 200, imageJson(r)); }
    if (m === 'GET' && img[2] === 'stats') {
      const vs = views.filter((v) => v.imageId === r.id);
      return send(res, 200, { views: vs.length, unique: new Set(vs.map((v) => v.ip)).size, days: statsDays(vs, 30), countries: countriesOf(vs), referrers: referrersOf(vs) });
    }
  }
  const del = /^\/api\/delete\/([0-9a-f-]{36})$/.exec(p);
  if (m === 'DELETE' && del) {
    const r = findImage(del[1]);
    if (!r) return err(res, 404, 'not_found', 'No such image');
    images.delete(r.id);
    return send(res, 200, { deleted: true });
  }
  const pthumb = /^\/api\/proxy\/thumb\/([0-9a-f-]{36})\.(\w+)$/.exec(p);
  if (m === 'GET' && pthumb) {
    const r = findImage(pthumb[1]);
    if (!r || r.extension !== pthumb[2]) return err(res, 404, 'not_found', 'Not found');
    res.writeHead(200, { 'Content-Type': r.contentType, 'Cache-Control': 'private, no-store' });
    return res.end(r.bytes);
  }
  if (m === 'GET' && p === '/api/settings') return send(res, 200, settingsJson());
  if (m === 'PUT' && p === '/api/settings') {
    const b = JSON.parse((await body(req)).toString() || '{}');
    for (const k of Object.keys(b)) if (fromEnv.has(k)) return err(res, 409, 'set_by_environment', `${k} is set by the environment`);
    if ('stripMode' in b && !['gps', 'all', 'none'].includes(b.stripMode)) return err(res, 400, 'invalid_request', 'stripMode must be gps, all or none');
    for (const k of ['privateByDefault', 'defaultExpirySeconds', 'stripMode', 'allowedTypes']) {
      if (k in b) { settings.upload[k] = b[k]; settings.upload[`_${k}`] = true; }
    }
    return send(res, 200, settingsJson());
  }
  if (m === 'POST' && p === '/api/account/password') {
    const b = JSON.parse((await body(req)).toString() || '{}');
    if (b.current !== PASSWORD) return err(res, 403, 'wrong_password', 'current password is wrong');
    if (String(b.new || '').length < 12) return err(res, 400, 'weak_password', 'password too short');
    PASSWORD = b.new;
    for (const [t] of sessions) if (t !== s.token) sessions.delete(t);
    return send(res, 204, '');
  }
  if (m === 'GET' && p === '/api/sessions') {
    return send(res, 200, { sessions: [...sessions.values()].filter((x) => x.expires > Date.now()).map((x) => ({
      id: x.id, createdAt: x.createdAt, lastSeenAt: now(), ip: '127.0.0.1', userAgent: x.agent, current: x.token === s.token })) });
  }
  const sessDel = /^\/api\/sessions\/([\w-]+)$/.exec(p);
  if (m === 'DELETE' && sessDel) {
    const found = [...sessions.values()].find((x) => x.id === sessDel[1]);
    if (!found) return err(res, 404, 'not_found', 'No such session');
    sessions.delete(found.token);
    return send(res, 204, '');
  }
  if (m === 'POST' && p === '/api/logout-all') {
    sessions.clear();
    return send(res, 204, '');
  }
  if (m === 'GET' && p === '/api/backup') {
    res.writeHead(200, { 'Content-Type': 'application/x-tar', 'Content-Disposition': 'attachment; filename="pixbin-backup.tar"' });
    return res.end(Buffer.alloc(1024));
  }
  const prox = /^\/api\/proxy\/([0-9a-f-]{36})\.(\w+)$/.exec(p);
  if (m === 'GET' && prox) {
    const r = findImage(prox[1]);
    if (!r || r.extension !== prox[2]) return err(res, 404, 'not_found', 'Not found');
    res.writeHead(200, { 'Content-Type': r.contentType, 'Cache-Control': 'private, no-store' });
    return res.end(r.bytes);
  }
  if (m === 'GET' && p === '/api/keys') return send(res, 200, { keys: [...keys.values()].map(({ hash, ...k }) => k) });
  if (m === 'POST' && p === '/api/keys') {
    const name = String(JSON.parse((await body(req)).toString()).name || '').trim();
    if (!name) return err(res, 400, 'invalid_request', 'Name required');
    const key = `pbk_${b64(24)}`;
    const k = { id: nextKeyId++, name, prefix: key.slice(0, 8), createdAt: now(), lastUsedAt: null, hash: createHash('sha256').update(key).digest('hex') };
    keys.set(k.id, k);
    const { hash, ...pub } = k;
    return send(res, 201, { ...pub, key });
  }
  const keyDel = /^\/api\/keys\/(\d+)$/.exec(p);
  if (m === 'DELETE' && keyDel) {
    if (!keys.delete(Number(keyDel[1]))) return err(res, 404, 'not_found', 'No such key');
    return send(res, 200, { revoked: true });
  }
  if (m === 'GET' && p === '/api/stats') {
    const all = [...images.values()];
    return send(res, 200, {
      images: all.length, privateImages: all.filter((r) => r.isPrivate).length, views: views.length,
      uniqueVisitors: new Set(views.map((v) => v.ip)).size, storageUsed: all.reduce((a, r) => a + r.bytes.length, 0),
      storageLimit: 1e9, diskFree: 42e9,
    });
  }
  if (m === 'GET' && p === '/api/stats/views') return send(res, 200, { days: statsDays(views, Number(url.searchParams.get('days') || 30)) });
  if (m === 'GET' && p === '/api/stats/countries') return send(res, 200, { countries: countriesOf(views) });
  if (m === 'GET' && p === '/api/stats/referrers') return send(res, 200, { referrers: referrersOf(views) });
  if (m === 'GET' && p === '/api/stats/recent') return send(res, 200, { views: views.slice(0, 50).map(({ ip, ...v }) => v) });
  if (m === 'GET' && p === '/api/stats/top') {
    return send(res, 200, { images: [...images.values()].sort((a, b) => b.views - a.views).slice(0, 10).map((r) => imageJson(r)) });
  }
  return err(res, 404, 'not_found', 'Not found');
}

const server = http.createServer((req, res) => {
  route(req, res).catch((e) => {
    console.error(e);
    if (!res.headersSent) err(res, 500, 'internal', 'Internal error');
  });
});
server.listen(0, '127.0.0.1', () => {
  base = `http://127.0.0.1:${server.address().port}`;
  console.log(`pixbin listening on ${base}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
