// Applies the remembered theme before the first paint, so a dark-theme user
// never sees a flash of white. Keep in step with src/theme/theme.ts.
(function () {
  var pref = 'system'
  try {
    pref = localStorage.getItem('wh-theme') || 'system'
  } catch (e) {}
  var dark = pref === 'dark' || (pref !== 'light' && window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches)
  document.documentElement.setAttribute('data-theme', dark ? 'dark' : 'light')
})()
