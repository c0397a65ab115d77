package router

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// The pages a visitor sees when the app cannot answer. They say what is
// going on in plain words and never leak internal addresses.
const (
	pageNoApp = iota
	pageNotRunning
	pageSuspended
	pageBadGateway
	pageUnavailable
)

type pageText struct{ title, body string }

var pageTexts = map[int]pageText{
	pageNoApp:       {"No app here", "Nothing is deployed at {{.Name}}. Check the address, or create an app with this name."},
	pageNotRunning:  {"This app is not running", "{{.Name}} is not serving right now{{if .Status}} (status: {{.Status}}){{end}}. If it is being deployed for the first time, this page will be replaced by the app in a moment."},
	pageSuspended:   {"This app is suspended", "{{.Name}} has been suspended by the operators of this platform."},
	pageBadGateway:  {"The app did not answer", "{{.Name}} is running but did not answer this request. It may be starting, overloaded or crashing; its logs will say more."},
	pageUnavailable: {"Temporarily unavailable", "The platform could not look up {{.Name}} just now. Please try again in a few seconds."},
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#f6f7f9;color:#1d2330}
main{max-width:34rem;padding:2rem}h1{font-size:1.4rem;margin:0 0 .5rem}p{margin:0 0 1rem;color:#4a5263}
small{color:#8a91a0}
@media (prefers-color-scheme:dark){body{background:#14171c;color:#e6e8ec}p{color:#aab1bf}}
</style></head>
<body><main><h1>{{.Title}}</h1><p>{{.Body}}</p><small>{{.Code}} · WiseHosting</small></main></body></html>
`))

var bodyTmpls = func() map[int]*template.Template {
	m := map[int]*template.Template{}
	for k, v := range pageTexts {
		m[k] = template.Must(template.New("").Parse(v.body))
	}
	return m
}()

// writePage answers with one of the pages above; name is the app or host.
func writePage(w http.ResponseWriter, code, page int, name, status string) {
	var body strings.Builder
	_ = bodyTmpls[page].Execute(&body, struct{ Name, Status string }{name, status})
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if code == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	}
	w.WriteHeader(code)
	_ = pageTmpl.Execute(w, struct {
		Title string
		Body  template.HTML // already escaped by the body template
		Code  string
	}{pageTexts[page].title, template.HTML(body.String()), strconv.Itoa(code) + " " + http.StatusText(code)})
}
