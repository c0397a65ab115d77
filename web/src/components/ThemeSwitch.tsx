import { setThemePref, useThemePref, type ThemePref } from '../theme/theme'

const options: { value: ThemePref; label: string }[] = [
  { value: 'light', label: 'Light' },
  { value: 'dark', label: 'Dark' },
  { value: 'system', label: 'System' },
]

/** Light / Dark / System as a radio group (arrow keys move between them). */
export function ThemeSwitch({ compact }: { compact?: boolean }) {
  const pref = useThemePref()
  return (
    <fieldset className={'theme-switch' + (compact ? ' theme-switch-compact' : '')}>
      <legend className={compact ? 'sr-only' : undefined}>Theme</legend>
      {options.map((o) => (
        <label key={o.value} className={'theme-option' + (pref === o.value ? ' theme-option-on' : '')}>
          <input type="radio" name={compact ? 'theme-compact' : 'theme'} value={o.value} checked={pref === o.value} onChange={() => setThemePref(o.value)} />
          {o.label}
        </label>
      ))}
    </fieldset>
  )
}
