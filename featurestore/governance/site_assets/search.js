// Search over the index embedded in index.html (no fetch: the site opens from file://).
// An entry matches when every word typed occurs in its name, view, description or tags;
// names that contain the words come first.
(function () {
  "use strict";
  var entries = JSON.parse(document.getElementById("search-index").textContent);
  var input = document.getElementById("search");
  var list = document.getElementById("results");
  var count = document.getElementById("search-count");
  var LIMIT = 50;

  entries.forEach(function (e) {
    e.haystack = [e.name, e.view, e.kind, e.text].join(" ").toLowerCase();
    e.title = (e.name + " " + e.view).toLowerCase();
  });

  function show(query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    list.textContent = "";
    if (!words.length) { count.textContent = ""; return; }
    var hits = entries.filter(function (e) {
      return words.every(function (w) { return e.haystack.indexOf(w) >= 0; });
    });
    hits.sort(function (a, b) {
      var inA = words.every(function (w) { return a.title.indexOf(w) >= 0; }) ? 0 : 1;
      var inB = words.every(function (w) { return b.title.indexOf(w) >= 0; }) ? 0 : 1;
      return inA - inB || a.name.localeCompare(b.name);
    });
    count.textContent = hits.length === 0 ? "nothing matches" :
      hits.length + (hits.length === 1 ? " match" : " matches") + (hits.length > LIMIT ? ", the first " + LIMIT + " shown" : "");
    hits.slice(0, LIMIT).forEach(function (e) {
      var item = document.createElement("li");
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = e.kind;
      var link = document.createElement("a");
      link.href = e.url;
      link.textContent = e.name;
      item.appendChild(kind);
      item.appendChild(link);
      if (e.kind === "feature") { item.appendChild(document.createTextNode(" in " + e.view)); }
      if (e.description) {
        var text = document.createElement("span");
        text.className = "note";
        text.textContent = " — " + e.description;
        item.appendChild(text);
      }
      list.appendChild(item);
    });
  }

  input.addEventListener("input", function () { show(input.value); });
  var given = new URLSearchParams(window.location.search).get("q");
  if (given) { input.value = given; }
  show(input.value);
})();
