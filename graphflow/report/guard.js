(function () {
  'use strict';
  // Runs first: any script error, and any request the page's policy blocked
  // (the page fetches nothing), is written into the page for all to see.
  var pending = [];
  function show(text) {
    var list = document.getElementById('gf-errors');
    if (!list) { pending.push(text); return; }
    var item = document.createElement('li');
    item.textContent = text;
    list.appendChild(item);
    list.hidden = false;
    document.body.setAttribute('data-errors', String(list.children.length));
  }
  window.addEventListener('error', function (e) {
    show('script error: ' + (e.message || e.type) + (e.lineno ? ' (line ' + e.lineno + ')' : ''));
  });
  document.addEventListener('securitypolicyviolation', function (e) {
    show('blocked request: ' + e.violatedDirective + ' ' + (e.blockedURI || ''));
  });
  document.addEventListener('DOMContentLoaded', function () {
    pending.splice(0).forEach(show);
  });
})();
