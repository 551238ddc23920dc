// Image actions shared by the library and the image page. Each returns the
// updated image JSON (or true for a delete) and reports failures with a toast.

import * as api from './api.js';
import { confirmDialog, toast } from './ui.js';

/** Flips an image between public and private. Returns the new image or null. */
export async function togglePrivacy(img) {
  try {
    const next = await api.api('POST', `/api/images/${encodeURIComponent(img.id)}/privacy`, { body: { isPrivate: !img.isPrivate } });
    toast(next.isPrivate ? 'Image is now private. Its link carries a key.' : 'Image is now public.', 'success');
    return next;
  } catch (e) {
    if (e.status !== 401) toast(e.message, 'error');
    return null;
  }
}

/** Issues a new private key after confirmation; the old link stops working. */
export async function rotateKey(img) {
  const ok = await confirmDialog({
    title: 'Create a new private link?',
    body: `The current link to “${img.filename}” will stop working for everyone who has it.`,
    confirmText: 'Rotate key',
    danger: true,
  });
  if (!ok) return null;
  try {
    const next = await api.api('POST', `/api/images/${encodeURIComponent(img.id)}/rotate-key`);
    toast('New link created. The old one no longer works.', 'success');
    return next;
  } catch (e) {
    if (e.status !== 401) toast(e.message, 'error');
    return null;
  }
}

/** Deletes without asking (callers confirm). Throws ApiError. A 404 counts as gone. */
export async function deleteNow(img) {
  try {
    await api.api('DELETE', `/api/delete/${encodeURIComponent(img.uuid)}`);
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  return true;
}

/** Asks, then deletes one image. Returns true when it is gone. */
export async function deleteImage(img) {
  const ok = await confirmDialog({
    title: 'Delete this image?',
    body: `“${img.filename}” and its links will be gone for good.`,
    confirmText: 'Delete',
    danger: true,
  });
  if (!ok) return false;
  try {
    await deleteNow(img);
    toast('Image deleted', 'success');
    return true;
  } catch (e) {
    if (e.status !== 401) toast(e.message, 'error');
    return false;
  }
}
