// Pickers for references (region, distributor, product line ...): suggestions as the user types.
(function () {
  function debounce(fn, ms) { let t; return function () { clearTimeout(t); const a = arguments; t = setTimeout(() => fn.apply(this, a), ms); }; }
  document.querySelectorAll('input[data-lookup]').forEach(function (input) {
    const list = document.getElementById(input.getAttribute('list'));
    input.addEventListener('input', debounce(function () {
      const q = input.value.trim();
      if (q.length < 1) return;
      fetch(input.dataset.lookup + '?q=' + encodeURIComponent(q), { credentials: 'same-origin' })
        .then(r => r.ok ? r.json() : { items: [] })
        .then(data => {
          list.replaceChildren(...data.items.map(it => { const o = document.createElement('option'); o.value = it.code; o.label = it.label; o.textContent = it.label; return o; }));
        });
    }, 200));
  });
  // Upload progress for file imports
  const form = document.getElementById('import-form');
  if (form && window.XMLHttpRequest) {
    form.addEventListener('submit', function (ev) {
      const bar = document.getElementById('upload-progress');
      if (!bar) return;
      ev.preventDefault();
      bar.classList.remove('d-none');
      const xhr = new XMLHttpRequest();
      xhr.open('POST', form.action || window.location.href);
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) bar.firstElementChild.style.width = (100 * e.loaded / e.total) + '%'; };
      xhr.onload = function () { document.open(); document.write(xhr.responseText); document.close(); if (xhr.responseURL) history.replaceState(null, '', xhr.responseURL); };
      xhr.send(new FormData(form));
    });
  }
})();
