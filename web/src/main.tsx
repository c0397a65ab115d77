import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { Api } from './api/client'
import { App } from './App'
import { MeBus } from './me/bus'
import { MeProvider } from './me/context'
import { applyTheme, watchTheme } from './theme/theme'
import './styles.css'

applyTheme()
watchTheme()
const api = new Api()
const bus = new MeBus(api)

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MeProvider bus={bus} api={api}>
      <App />
    </MeProvider>
  </StrictMode>,
)
