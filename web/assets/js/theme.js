// Sets the saved theme before the first paint (a classic script, so it runs at once).
try {
  const t = localStorage.getItem('treestat.theme');
  if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
} catch (_) { /* storage off */ }
