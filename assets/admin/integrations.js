// Ready-made client configurations for an upload key, generated in the browser
// at the one moment the key is known: ShareX (.sxcu), ishare (.iscu) and a
// shell script for Flameshot, grim, maim or any file.

/** Host part of the base URL, for names ("img.example.com"). */
export function hostOf(baseUrl) {
  try { return new URL(baseUrl).host; } catch { return 'pixbin'; }
}

/** A filesystem-friendly slug of a key name. */
export function slug(text) {
  return String(text || '').toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'key';
}

/**
 * ShareX custom uploader. Version must be above 13.7.1: older values make
 * ShareX refuse the file or migrate `$…$` syntax, which would escape `{json:url}`.
 */
export function sharexConfig({ baseUrl, key, name, askExpiry, album }) {
  const host = hostOf(baseUrl);
  // `{select:…}` makes ShareX ask on every upload; the choice travels as the
  // `expires` form field, which the server bounds by the key's maximum.
  const extra = askExpiry ? { Arguments: { expires: '{select:1d|7d|30d|never}' } } : {};
  return {
    Version: '17.0.0',
    Name: name ? `${host} (${name})` : host,
    DestinationType: 'ImageUploader',
    RequestMethod: 'POST',
    RequestURL: `${baseUrl}/api/upload`,
    // An album id sends every upload into that album (X-Pixbin-Album).
    Headers: { Authorization: `Bearer ${key}`, ...(album ? { 'X-Pixbin-Album': album } : {}) },
    Body: 'MultipartFormData',
    FileFormName: 'file',
    ...extra,
    URL: '{json:url}',
    ThumbnailURL: '{json:thumbnail_url}',
    DeletionURL: '{json:deletion_url}',
    ErrorMessage: '{json:error}',
  };
}

/** ishare (macOS) custom uploader. */
export function ishareConfig({ baseUrl, key, name }) {
  const host = hostOf(baseUrl);
  return {
    name: name ? `${host} (${name})` : host,
    requestUrl: `${baseUrl}/api/upload`,
    headers: { Authorization: `Bearer ${key}` },
    formData: {},
    fileFormName: 'file',
    responseProp: 'url',
  };
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/** The one-line Flameshot pipeline shown next to the downloads. */
export function curlOneLiner({ baseUrl, key }) {
  return `flameshot gui -r | curl -sS -H "Authorization: Bearer ${key}" -F "file=@-;filename=shot.png" ${baseUrl}/api/upload | jq -r .url`;
}

/** A POSIX shell script: uploads a file given as argument, or a Flameshot region capture. */
export function shellScript({ baseUrl, key, name }) {
  return `#!/bin/sh
# Upload a screenshot to pixbin (${hostOf(baseUrl)}${name ? `, key "${String(name).replace(/[\r\n]/g, ' ')}"` : ''}).
#
#   pixbin-upload.sh            capture a region with Flameshot and upload it
#   pixbin-upload.sh FILE       upload FILE (e.g. from grim, maim, ksnip)
#
# Needs curl and jq. The link is printed, copied to the clipboard when
# wl-copy or xclip is installed, and announced with notify-send if present.
# Keep this file private: it contains your upload key.
set -eu

PIXBIN_URL=${shellQuote(baseUrl)}
PIXBIN_KEY=${shellQuote(key)}

if [ "$#" -ge 1 ]; then
  file=$1
  cleanup=
else
  file=$(mktemp "\${TMPDIR:-/tmp}/pixbin.XXXXXX")
  cleanup=$file
  trap 'rm -f "$cleanup"' EXIT
  flameshot gui -r > "$file"
  # An empty capture means the selection was cancelled.
  [ -s "$file" ] || exit 0
fi

response=$(curl -sS -H "Authorization: Bearer $PIXBIN_KEY" \\
  -F "file=@$file;filename=$(basename "$file" | sed 's/^pixbin\\..*/shot.png/')" \\
  "$PIXBIN_URL/api/upload")

url=$(printf '%s' "$response" | jq -r '.url // empty')
if [ -z "$url" ]; then
  msg=$(printf '%s' "$response" | jq -r '.error // "upload failed"' 2>/dev/null || echo "upload failed")
  echo "pixbin: $msg" >&2
  command -v notify-send >/dev/null 2>&1 && notify-send "pixbin" "Upload failed: $msg"
  exit 1
fi

echo "$url"
if command -v wl-copy >/dev/null 2>&1 && [ -n "\${WAYLAND_DISPLAY:-}" ]; then
  printf '%s' "$url" | wl-copy
elif command -v xclip >/dev/null 2>&1; then
  printf '%s' "$url" | xclip -selection clipboard
fi
command -v notify-send >/dev/null 2>&1 && notify-send "pixbin" "Uploaded: $url"
exit 0
`;
}
