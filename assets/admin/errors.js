// The one place that turns the server's error `code`s (and, for the generic
// `invalid_request`, the few messages users actually meet) into plain
// sentences. Every page shows errors through `explain()`; the server's own
// words stay available as `err.message` for logs and the title tooltip.

import { fmtBytes } from './ui.js';

/** Sentences by error code. A function gets the error (and optional context). */
const BY_CODE = {
  network: 'Could not reach the server. Check your connection and try again.',
  aborted: 'Cancelled.',
  unauthorized: 'Your session has ended. Please sign in again.',
  invalid_credentials: 'Wrong username or password.',
  rate_limited: 'Too many attempts. Wait a moment and try again.',
  csrf: 'This page was open too long. Reload it and try again.',
  forbidden: 'You are not allowed to do that.',
  not_found: 'It no longer exists. It may have been deleted or expired.',
  method_not_allowed: 'The server does not accept this action.',
  file_too_large: (e, ctx) => (ctx?.maxBytes
    ? `This file is too large. The limit is ${fmtBytes(ctx.maxBytes)}.`
    : 'This file is too large for the server.'),
  type_not_allowed: (e, ctx) => {
    const m = /detected: ([a-z0-9]+)/i.exec(e.message || '');
    const unsupported = /(heic|heif|avif) images are not supported/i.exec(e.message || '');
    const allowed = ctx?.allowedTypes?.length ? ` Allowed: ${typeList(ctx.allowedTypes)}.` : '';
    if (unsupported) return `${unsupported[1].toUpperCase()} photos are not supported. Export the photo as JPEG or PNG and upload that.${allowed}`;
    if (!m || m[1] === 'unknown') return `This file is not an image pixbin accepts.${allowed}`;
    return `${m[1].toUpperCase()} files are not accepted here.${allowed}`;
  },
  invalid_image: 'This image is damaged or incomplete (cut short while saving or copying?). Save or export it again and retry.',
  image_too_large: 'This image has more pixels than the server allows. Scale it down and try again.',
  // The server says whose limit it is: the account's quota ("your …") or the instance's.
  storage_full: (e) => (/\byour\b/i.test(e.message || '')
    ? 'Your storage quota is reached. Delete some of your images to make room, or ask an admin for more.'
    : 'The storage limit is reached. Delete some images to make room.'),
  image_limit: (e) => (/\byour\b/i.test(e.message || '')
    ? 'Your image quota is reached. Delete some of your images to upload more, or ask an admin for more.'
    : 'The image limit is reached. Delete some images to upload more.'),
  disk_full: 'The server’s disk is full. Ask its administrator to free some space.',
  expiry_too_long: 'That expiry is longer than this key allows. Choose a shorter one.',
  public_not_allowed: 'This key only uploads private images.',
  name_too_long: 'The name is too long: at most 64 characters.',
  wrong_password: 'The current password is wrong.',
  weak_password: 'Choose a longer, less guessable new password (at least 12 characters).',
  admin_only: 'Only an admin may do that.',
  last_admin: 'This is the last enabled admin. Make another account an admin first.',
  name_taken: 'That name is taken. Choose another.',
  invalid_name: 'Names are 1 to 64 letters, digits, dots, dashes or underscores, with no spaces.',
  same_user: 'The images cannot go to the account being deleted. Choose another account.',
  no_such_user: 'That account does not exist (any more).',
  images_left: 'The account still had images. Delete it again to finish.',
  invalid_link: 'This link does not work: it is wrong, has expired, or was already used. Ask for a new one.',
  registration_closed: 'Registration is closed on this server.',
  invite_required: 'You need an invite link to create an account here.',
  set_by_environment: 'This setting is fixed by the server’s environment or command line, so it cannot be changed here.',
  unavailable: 'The server is busy. Try again in a moment.',
  internal: 'Something went wrong on the server. Try again; if it keeps happening, check the server log.',
};

/** Known `invalid_request` messages, in plain words. */
const BY_MESSAGE = [
  [/in the past/i, 'That time has already passed. Choose a time in the future.'],
  [/upload is empty/i, 'This file is empty.'],
  [/maxViews|max_views/i, 'Max views must be a whole number from 1 to 1,000,000,000, or empty for no limit.'],
  [/expires/i, 'That expiry is not valid. Choose one of the offered choices or a future date.'],
  [/name required|name must not be empty/i, 'Give it a name.'],
];

function typeList(types) {
  return types.map((t) => String(t).toUpperCase()).join(', ');
}

/**
 * A plain sentence for an API error (an ApiError or anything with `code` and
 * `message`). `ctx` may carry `{ maxBytes, allowedTypes }` for upload errors.
 */
export function explain(err, ctx) {
  if (!err) return 'Something went wrong.';
  const entry = BY_CODE[err.code];
  if (typeof entry === 'function') return entry(err, ctx);
  if (entry) return entry;
  if (err.code === 'invalid_request' || !err.code) {
    for (const [re, text] of BY_MESSAGE) if (re.test(err.message || '')) return text;
  }
  if (/^http_5\d\d$/.test(err.code || '')) return BY_CODE.internal;
  if (err.code === 'http_413') return BY_CODE.file_too_large(err, ctx);
  // Unknown: the server's words as a sentence.
  return sentence(err.message || 'Something went wrong');
}

/** The server's words as a sentence: capitalised, with a full stop. */
export function sentence(msg) {
  const m = String(msg).trim();
  return `${m.charAt(0).toUpperCase()}${m.slice(1)}${/[.!?]$/.test(m) ? '' : '.'}`;
}

/** The allowed types as the upload page says them ("PNG, JPEG, GIF"). */
export { typeList };
