// tokengate console: progressive enhancement only. Every page works without this script (dialogs fall back to their
// own pages); it adds dialogs, copy buttons, the private key download and the logo preview. No inline script anywhere:
// the CSP allows only this file.
'use strict';
(function () {
  function byId(id) { return document.getElementById(id); }

  // <a data-opens="ID"> opens <dialog id="ID"> instead of following its link; Escape (native) or Cancel closes it.
  document.querySelectorAll('[data-opens]').forEach(function (opener) {
    opener.addEventListener('click', function (ev) {
      var dialog = byId(opener.getAttribute('data-opens'));
      if (!dialog || typeof dialog.showModal !== 'function') return;
      ev.preventDefault();
      dialog.showModal();
      var first = dialog.querySelector('input:not([type=hidden]):not([disabled]), textarea, select, button');
      if (first) first.focus();
      dialog.addEventListener('close', function () { opener.focus(); }, { once: true });
    });
  });
  document.querySelectorAll('[data-closes]').forEach(function (closer) {
    closer.addEventListener('click', function (ev) {
      var dialog = closer.closest('dialog');
      if (!dialog) return;
      ev.preventDefault();
      dialog.close();
    });
  });

  // <button data-copy="ID"> copies the value of the field ID; when the clipboard is not available, it selects the
  // text so that the user can copy it by hand. The outcome is announced in #ID-status.
  document.querySelectorAll('[data-copy]').forEach(function (button) {
    button.addEventListener('click', function () {
      var id = button.getAttribute('data-copy');
      var field = byId(id);
      var status = byId(id + '-status');
      function say(text) { if (status) status.textContent = text; }
      function selectIt() {
        field.focus();
        field.select();
        say('Selected: press Ctrl+C (⌘C on a Mac) to copy.');
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { say('Copied.'); }, selectIt);
      } else {
        selectIt();
      }
    });
  });

  // <a data-download-from="ID" download="NAME"> saves the text of field ID as a file, built here from the page's
  // text (a blob: URL), so that a private key shown once is never fetched from the server again.
  document.querySelectorAll('a[data-download-from]').forEach(function (link) {
    var field = byId(link.getAttribute('data-download-from'));
    if (!field) return;
    link.href = URL.createObjectURL(new Blob([field.value + '\n'], { type: 'application/x-pem-file' }));
    link.hidden = false;
  });

  // A preview of the logo chosen for upload.
  var logo = byId('logo');
  var preview = byId('logo-preview');
  if (logo && preview) {
    logo.addEventListener('change', function () {
      if (logo.files && logo.files[0]) {
        preview.src = URL.createObjectURL(logo.files[0]);
        preview.hidden = false;
      }
    });
  }

  // A public key file is shown in the text area before it is sent.
  var keyFile = byId('public_key_file');
  var keyText = byId('public_key');
  if (keyFile && keyText && window.FileReader) {
    keyFile.addEventListener('change', function () {
      if (!keyFile.files || !keyFile.files[0]) return;
      var reader = new FileReader();
      reader.onload = function () { keyText.value = String(reader.result); };
      reader.readAsText(keyFile.files[0]);
    });
  }
})();
