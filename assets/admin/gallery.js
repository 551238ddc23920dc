// The gallery's lightbox: an enhancement over plain links (every tile opens
// its image without script). Opens on click, moves with the arrow keys, closes
// with Escape or a click on the backdrop, keeps focus inside while open and
// gives it back to the tile it came from.
(() => {
  const box = document.getElementById('lightbox');
  const tiles = Array.from(document.querySelectorAll('a.tile'));
  if (!box || tiles.length === 0) return;
  const img = box.querySelector('.lb-img');
  const caption = box.querySelector('.lb-caption');
  const buttons = Array.from(box.querySelectorAll('button'));
  let at = -1;
  let opener = null;

  function show(i) {
    at = (i + tiles.length) % tiles.length;
    const tile = tiles[at];
    const name = tile.querySelector('img').alt;
    img.src = tile.dataset.full || tile.href;
    img.alt = name;
    caption.textContent = `${name} (${at + 1} of ${tiles.length})`;
    box.dataset.index = String(at);
    // The neighbours, so the next arrow press shows at once.
    for (const n of [at + 1, at - 1]) {
      const t = tiles[(n + tiles.length) % tiles.length];
      new Image().src = t.dataset.full || t.href;
    }
  }

  function open(i) {
    opener = tiles[i];
    show(i);
    box.hidden = false;
    document.body.classList.add('lb-open');
    box.querySelector('.lb-close').focus();
  }

  function close() {
    box.hidden = true;
    img.removeAttribute('src');
    document.body.classList.remove('lb-open');
    delete box.dataset.index;
    if (opener) opener.focus();
    at = -1;
  }

  tiles.forEach((tile, i) => tile.addEventListener('click', (e) => {
    // New tab, download and friends keep their usual meaning.
    if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    open(i);
  }));
  box.querySelector('.lb-close').addEventListener('click', close);
  box.querySelector('.lb-prev').addEventListener('click', () => show(at - 1));
  box.querySelector('.lb-next').addEventListener('click', () => show(at + 1));
  box.addEventListener('click', (e) => { if (e.target === box) close(); });
  document.addEventListener('keydown', (e) => {
    if (box.hidden) return;
    if (e.key === 'Escape') { e.preventDefault(); close(); }
    else if (e.key === 'ArrowRight') { e.preventDefault(); show(at + 1); }
    else if (e.key === 'ArrowLeft') { e.preventDefault(); show(at - 1); }
    else if (e.key === 'Tab') {
      // A modal dialog: Tab cycles through its buttons only.
      const i = buttons.indexOf(document.activeElement);
      const next = e.shiftKey ? (i <= 0 ? buttons.length - 1 : i - 1) : (i + 1) % buttons.length;
      e.preventDefault();
      buttons[next].focus();
    }
  });
})();
