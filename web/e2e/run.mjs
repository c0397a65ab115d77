// The dashboard end to end, in a real headless Chromium (Debian's, driven by
// playwright-core; no browser is downloaded), against a running
// `wisehosting dev`. internal/webe2e starts the platform and a git server
// and runs this; it can also be run by hand:
//
//   WH_URL=http://localhost:8080 WH_OWNER_EMAIL=… WH_OWNER_PASSWORD=… \
//   WH_REPO_URL=http://127.0.0.1:PORT/app.git WH_GIT_TOKEN=… WH_APP=web1 node web/e2e/run.mjs
//
// Screenshots of every page, light and dark, at 1440 and 375 px wide, go
// to web/e2e/screenshots/ (or WH_SCREENSHOTS).
import { chromium } from 'playwright-core'
import { mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const env = (k, d) => {
  const v = process.env[k] ?? d
  if (v === undefined) {
    console.error(`run.mjs: ${k} is not set`)
    process.exit(2)
  }
  return v
}
const base = env('WH_URL').replace(/\/$/, '')
const ownerEmail = env('WH_OWNER_EMAIL')
const ownerPassword = env('WH_OWNER_PASSWORD')
const repoURL = env('WH_REPO_URL')
const gitToken = env('WH_GIT_TOKEN', '')
const appName = env('WH_APP')
const marker = env('WH_APP_MARKER', 'hello from the e2e app')
const shots = env('WH_SCREENSHOTS', join(dirname(fileURLToPath(import.meta.url)), 'screenshots'))
const executablePath = env('WH_CHROMIUM', '/usr/bin/chromium')
const port = new URL(base).port

rmSync(shots, { recursive: true, force: true })
mkdirSync(shots, { recursive: true })

const t0 = Date.now()
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a)

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
})

// Console errors and uncaught exceptions fail the run, except the ones a
// step provokes on purpose (a refused sign-in answers 401).
const problems = []
let expectFailedRequests = false
function watch(page, label) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return
    if (expectFailedRequests && /Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) return
    problems.push(`${label}: console error: ${m.text()}`)
  })
  page.on('pageerror', (e) => problems.push(`${label}: uncaught: ${e.message}`))
}

const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } })
const page = await ctx.newPage()
watch(page, 'desktop')
page.setDefaultTimeout(20_000)

// Every page is screenshotted, and none may scroll sideways (readable
// at 375 px as at 1440 px).
const shot = async (p, name) => {
  await p.waitForTimeout(150) // let the last frame settle
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  check(overflow <= 1, `${name}: the page scrolls sideways by ${overflow}px`)
  await p.screenshot({ path: join(shots, name + '.png'), fullPage: true })
}
const heading = (p, name) => p.getByRole('heading', { level: 1, name }).waitFor()
const theme = (p) => p.evaluate(() => document.documentElement.dataset.theme)
async function setTheme(p, t) {
  await p.evaluate((t) => localStorage.setItem('wh-theme', t), t)
}
async function expectToast(p, re) {
  await p.locator('.toast', { hasText: re }).first().waitFor()
}
function check(cond, msg) {
  if (!cond) throw new Error(msg)
}

let step = 'start'
try {
  // 1. Sign up a new account (sign-ups are open on a dev instance).
  step = 'sign up'
  await page.goto(base + '/')
  await page.waitForURL(/\/signin$/)
  await setTheme(page, 'light')
  await page.getByRole('link', { name: 'Create an account' }).click()
  await heading(page, 'Create your account')
  await shot(page, 'signup-light')
  const newUser = `dev-${Date.now()}@example.com`
  await page.getByLabel('Name', { exact: true }).fill('Dev User')
  await page.getByLabel('Email', { exact: true }).fill(newUser)
  await page.getByLabel('Password', { exact: true }).fill('correct-horse-battery')
  await page.getByRole('button', { name: 'Create account' }).click()
  await heading(page, 'Apps')
  await page.getByText('No apps yet').waitFor()
  check((await page.locator('nav[aria-label=Main]').innerText()).includes('Dev User'), 'the new user is not shown in the sidebar')
  check(!(await page.getByRole('link', { name: 'Workers', exact: true }).count()), 'a plain user sees the Workers page')
  log('signed up as', newUser)
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(/\/signin$/)

  // 2. Sign in as the instance owner; a wrong password keeps the form.
  step = 'sign in'
  expectFailedRequests = true
  await page.getByLabel('Email', { exact: true }).fill(ownerEmail)
  await page.getByLabel('Password', { exact: true }).fill('not-the-password')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('alert').filter({ hasText: 'wrong email or password' }).waitFor()
  check((await page.getByLabel('Email', { exact: true }).inputValue()) === ownerEmail, 'the refused sign-in lost the email')
  expectFailedRequests = false
  await shot(page, 'signin-light')
  await page.getByLabel('Password', { exact: true }).fill(ownerPassword)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await heading(page, 'Apps')
  log('signed in as the owner')

  // 3. Create the app from the local repository and deploy it.
  step = 'create app'
  await page.getByRole('link', { name: /New app|Create your first app/ }).first().click()
  await heading(page, 'New app')
  await page.getByLabel('Name', { exact: true }).fill(appName)
  await page.getByLabel('Repository URL', { exact: true }).fill(repoURL)
  await page.getByLabel('Access token', { exact: true }).fill(gitToken)
  await page.getByLabel('Port', { exact: true }).fill('8080')
  await page.getByLabel('Memory (MiB)').fill('128')
  await page.getByLabel('CPU (cores)').fill('0.5')
  await page.getByRole('button', { name: 'Add variable' }).click()
  await page.getByLabel('Variable 1 name').fill('GREETING')
  await page.getByLabel('Variable 1 value').fill('hi')
  await shot(page, 'new-app-light')
  await page.getByRole('button', { name: 'Create and deploy' }).click()

  // 4. The build log streams while the deployment runs.
  step = 'build log'
  await page.waitForURL(/\/deployments\/dep_/)
  const build = page.getByTestId('build-log')
  // The app's Dockerfile prints "build step 1…8" a second apart: the lines
  // must arrive one by one while the deployment is still building.
  await build.locator('.logline', { hasText: 'build step 1' }).waitFor({ timeout: 120_000 })
  const n0 = await build.locator('.logline').count()
  const whileGrowing = await page.waitForFunction(
    (n0) => {
      const el = document.querySelector('[data-testid=build-log]')
      return el && el.querySelectorAll('.logline').length > n0 ? el.getAttribute('data-status') : false
    },
    n0,
    { timeout: 60_000 },
  )
  check((await whileGrowing.jsonValue()) === 'building', 'the build log did not grow while building')
  await build.getByText('Live', { exact: true }).waitFor()
  await shot(page, 'build-log-light')
  await build.locator('.logline', { hasText: 'build step 8' }).waitFor({ timeout: 60_000 })
  log('build log streamed live, line by line')
  await page.waitForFunction(
    () => {
      const s = document.querySelector('[data-testid=build-log]')?.getAttribute('data-status')
      return s === 'running' || s === 'failed'
    },
    null,
    { timeout: 240_000 },
  )
  const final = await build.getAttribute('data-status')
  const buildText = await build.locator('.logviewer-body').innerText()
  check(final === 'running', `the deployment ended ${final}; build log:\n${buildText}`)
  log('deployment running; build log has', (await build.locator('.logline').count()), 'lines')

  // 5. The overview shows it running; its URL answers through the router.
  step = 'overview'
  await page.getByRole('link', { name: 'Overview', exact: true }).click()
  await page.locator('.app-title [data-status=running]').waitFor({ timeout: 60_000 })
  await shot(page, 'app-overview-light')
  const url = await page.getByTestId('app-url').getAttribute('href')
  check(url === `http://${appName}.localhost:${port}`, `app URL ${url}`)
  const [popup] = await Promise.all([page.waitForEvent('popup'), page.getByTestId('app-url').click()])
  await popup.waitForLoadState()
  let body = ''
  for (let i = 0; i < 40 && !body.includes(marker); i++) {
    body = await popup.locator('body').innerText().catch(() => '')
    if (!body.includes(marker)) {
      await popup.waitForTimeout(500)
      await popup.reload().catch(() => {})
    }
  }
  check(body.includes(marker), `the app's URL answered: ${body.slice(0, 300)}`)
  await popup.screenshot({ path: join(shots, 'app-itself.png') })
  await popup.close()
  log('the app answers at', url)

  // 6. Runtime logs: a new line arrives while we watch; pause and filter work.
  step = 'runtime logs'
  await page.getByRole('link', { name: 'Logs', exact: true }).click()
  const logs = page.getByTestId('runtime-logs')
  await logs.locator('.logline').first().waitFor({ timeout: 60_000 })
  const before = await logs.locator('.logline').count()
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=runtime-logs] .logline').length > n, before, { timeout: 30_000 })
  log('runtime log line arrived live:', before, '→', await logs.locator('.logline').count())
  await logs.getByText('Live').waitFor()
  await shot(page, 'logs-light')
  await logs.getByRole('button', { name: 'Pause' }).click()
  const held = await logs.locator('.logline').count()
  await logs.getByRole('button', { name: /Resume \(\d+ new\)/ }).waitFor({ timeout: 15_000 })
  check((await logs.locator('.logline').count()) === held, 'paused log kept growing')
  await logs.getByRole('button', { name: /Resume/ }).click()
  check((await logs.locator('.logline').count()) > held, 'resume did not show the held lines')
  await logs.getByRole('searchbox', { name: 'Filter lines' }).fill('tick')
  const filtered = await logs.locator('.logline-text').allInnerTexts()
  check(filtered.length > 0 && filtered.every((t) => t.includes('tick')), 'filter: ' + filtered.slice(0, 3).join(' | '))
  await logs.getByRole('searchbox', { name: 'Filter lines' }).fill('')

  // 7. Metrics: the charts draw from the worker's samples.
  step = 'metrics'
  await page.getByRole('link', { name: 'Metrics', exact: true }).click()
  await page.waitForFunction(
    () => {
      const svg = document.querySelector('[data-testid=metrics] .chart-svg')
      return svg && Number(svg.getAttribute('data-points')) >= 2 && svg.querySelector('path.chart-line')?.getAttribute('d')?.includes('L')
    },
    null,
    { timeout: 90_000 },
  )
  log('metrics chart drawn with', await page.locator('[data-testid=metrics] .chart-svg').first().getAttribute('data-points'), 'points')
  await shot(page, 'metrics-light')

  // 8. Deployments and settings.
  step = 'deployments'
  await page.getByRole('link', { name: 'Deployments', exact: true }).click()
  await page.getByRole('table', { name: 'Deployments' }).waitFor()
  await shot(page, 'deployments-light')
  step = 'settings'
  await page.getByRole('link', { name: 'Settings', exact: true }).click()
  await page.getByRole('list', { name: 'Environment variables' }).getByText('GREETING').waitFor()
  check(!(await page.getByText('hi', { exact: true }).count()), 'an env value is shown unmasked')
  await page.getByLabel('Name', { exact: true }).fill('LOG_LEVEL')
  await page.getByLabel('Value', { exact: true }).fill('debug')
  await page.getByRole('button', { name: 'Add variable' }).click()
  await expectToast(page, /LOG_LEVEL saved/)
  await page.getByRole('list', { name: 'Environment variables' }).getByText('LOG_LEVEL').waitFor()
  // A refused write shows the server's message and keeps what was typed.
  expectFailedRequests = true
  await page.getByLabel('Domain', { exact: true }).fill('not a domain')
  await page.getByRole('button', { name: 'Add domain' }).click()
  await page.locator('.form-error').filter({ hasText: /domain/i }).waitFor()
  check((await page.getByLabel('Domain', { exact: true }).inputValue()) === 'not a domain', 'the refused domain was cleared')
  expectFailedRequests = false
  await page.getByLabel('Domain', { exact: true }).fill('')
  await shot(page, 'settings-light')

  // 9. Workers: the local worker is online; adding one shows its key once.
  step = 'workers'
  await page.getByRole('link', { name: 'Workers', exact: true }).click()
  await heading(page, 'Workers')
  await page.locator('.worker-card [data-status=online]').first().waitFor()
  await shot(page, 'workers-light')
  await page.getByLabel('Name', { exact: true }).fill('server-2')
  await page.getByRole('button', { name: 'Add worker' }).click()
  const key = page.getByTestId('new-worker-key')
  await key.getByText(/^whk_/).waitFor()
  check((await key.innerText()).includes('worker-agent --control-plane ' + base), 'no start command with the control plane URL')
  await shot(page, 'workers-new-key-light')
  await key.getByRole('button', { name: 'Done' }).click()

  // 10. Account (tokens), team, webhooks.
  step = 'account'
  await page.getByRole('link', { name: 'Account', exact: true }).click()
  await heading(page, 'Account')
  await page.getByLabel('Token name', { exact: true }).fill('ci')
  await page.getByRole('button', { name: 'Create token' }).click()
  await page.getByTestId('new-token').getByText(/^whp_/).waitFor()
  await shot(page, 'account-light')
  step = 'team'
  await page.getByRole('link', { name: 'Team', exact: true }).click()
  await page.getByRole('table', { name: 'Members' }).waitFor()
  await shot(page, 'team-light')
  step = 'webhooks'
  await page.getByRole('link', { name: 'Webhooks', exact: true }).click()
  await heading(page, 'Webhooks')
  await page.getByLabel('Payload URL', { exact: true }).fill('https://hooks.example.com/wisehosting')
  await page.getByRole('button', { name: 'Add webhook' }).click()
  await page.getByTestId('new-webhook-secret').getByText(/^whsec_/).waitFor()
  await page.getByRole('button', { name: 'Deliveries' }).first().click()
  await shot(page, 'webhooks-light')

  // 11. Theme: switch to dark; it is remembered and applied before the
  // app's scripts run (held back here), so there is no flash of light.
  step = 'theme'
  await page.getByRole('link', { name: 'Account', exact: true }).click()
  await heading(page, 'Account')
  await page.locator('main').getByText('Dark', { exact: true }).click()
  check((await theme(page)) === 'dark', 'dark theme not applied')
  check((await page.evaluate(() => localStorage.getItem('wh-theme'))) === 'dark', 'dark theme not remembered')
  let release
  const held2 = new Promise((r) => (release = r))
  await page.route('**/assets/*.js', async (route) => {
    await held2
    await route.continue().catch(() => {})
  })
  const nav = page.reload({ waitUntil: 'commit' })
  await nav
  await page.waitForFunction(() => document.documentElement.hasAttribute('data-theme'))
  const early = await page.evaluate(() => ({
    theme: document.documentElement.dataset.theme,
    appLoaded: !!document.querySelector('#root')?.children.length,
  }))
  release()
  check(early.theme === 'dark' && !early.appLoaded, `before the app loaded: ${JSON.stringify(early)}`)
  await heading(page, 'Account')
  await page.unroute('**/assets/*.js')
  log('theme: dark remembered and applied before first paint')

  // 12. Every page in dark, then both themes at 375 px (no sideways scroll).
  step = 'screenshots'
  const pages = [
    ['apps', '/apps', 'Apps'],
    ['new-app', '/apps/new', 'New app'],
    ['app-overview', `/apps/${appName}`, appName],
    ['deployments', `/apps/${appName}/deployments`, appName],
    ['logs', `/apps/${appName}/logs`, appName],
    ['metrics', `/apps/${appName}/metrics`, appName],
    ['settings', `/apps/${appName}/settings`, appName],
    ['workers', '/workers', 'Workers'],
    ['account', '/account', 'Account'],
    ['team', '/team', undefined],
    ['webhooks', '/webhooks', 'Webhooks'],
  ]
  const settle = async (p, path) => {
    if (path.endsWith('/metrics')) await p.locator('.chart-svg').first().waitFor({ timeout: 30_000 })
    if (path.endsWith('/logs')) await p.locator('.logline').first().waitFor({ timeout: 30_000 })
    await p.locator('.state-loading').first().waitFor({ state: 'detached', timeout: 15_000 }).catch(() => {})
  }
  for (const [name, path, h] of pages) {
    await page.goto(base + path)
    if (h) await heading(page, h)
    await settle(page, path)
    check((await theme(page)) === 'dark', `${path}: not dark`)
    await shot(page, name + '-dark')
  }
  await page.goto(base + `/apps/${appName}/deployments`)
  await page.getByRole('link', { name: 'Build log' }).first().click()
  await page.getByTestId('build-log').locator('.logline').first().waitFor()
  await shot(page, 'build-log-dark')

  const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, storageState: await ctx.storageState() })
  const mp = await phone.newPage()
  watch(mp, 'phone')
  for (const t of ['light', 'dark']) {
    await mp.goto(base + '/account')
    await setTheme(mp, t)
    for (const [name, path, h] of pages) {
      await mp.goto(base + path)
      if (h) await heading(mp, h)
      await settle(mp, path)
      await shot(mp, `${name}-375-${t}`)
    }
  }
  await mp.getByRole('button', { name: 'Menu' }).click()
  await shot(mp, 'menu-375-dark')
  await phone.close()
  const phone2 = await browser.newContext({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2 })
  const sp = await phone2.newPage()
  watch(sp, 'phone, signed out')
  await sp.goto(base + '/apps')
  await sp.getByRole('heading', { name: 'Sign in to WiseHosting' }).waitFor()
  await shot(sp, 'signin-375-light')
  await phone2.close()
  log('screenshots taken')

  // 13. Sign out: the session ends and app pages ask to sign in again.
  step = 'sign out'
  await page.goto(base + '/apps')
  await heading(page, 'Apps')
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(/\/signin$/)
  await page.goto(base + `/apps/${appName}`)
  await page.waitForURL(/\/signin\?next=/)
  await shot(page, 'signin-dark')
  expectFailedRequests = true // the 401 asked for here
  const me = await page.evaluate(() => fetch('/v1/me').then((r) => r.status))
  check(me === 401, `after sign-out /v1/me answered ${me}`)
  log('signed out')
} catch (err) {
  console.error(`FAILED at step "${step}": ${err.stack || err}`)
  await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {})
  await browser.close()
  process.exit(1)
}

await browser.close()
if (problems.length) {
  console.error('FAILED: the browser reported problems:\n' + problems.join('\n'))
  process.exit(1)
}
log(`passed; screenshots in ${shots}`)
