package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/go-json-experiment/json"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/store"
)

// Inbound git hooks: a git host (GitHub, GitLab, or anything speaking one
// of their formats) posts to POST /v1/apps/{app}/hooks/git on every push,
// and a push to the app's branch deploys the pushed commit.
//
// The route is public; each app has its own random secret, which members
// read (and create, on first read) with GET /v1/apps/{app}/hooks/git. There
// is no column for it, so it lives in the settings table under the key
// "githook:<app id>", as base64 (standard, padded) of the secret box's
// output for the context "app:<app id>:githook_secret". The key names the
// app's id, not its name, so a new app reusing a deleted app's name never
// inherits its secret. (Deleting an app leaves that setting behind; it is
// unreachable and harmless.)
//
// Authentication, per request, before the body is looked at:
//   - GitHub: X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>,
//     compared in constant time. The event is X-GitHub-Event (push, ping).
//     Both content types GitHub offers are accepted (application/json, and
//     form-encoded with the JSON in the "payload" field; the HMAC covers the
//     raw body either way).
//   - GitLab: X-Gitlab-Token: <secret>, compared in constant time (of the
//     sha256 of both sides, so the secret's length does not leak either).
//     The event is X-Gitlab-Event (Push Hook, Tag Push Hook).
//
// Answers: 202 {"deployment_id"} for a push to the app's branch; 200
// {"ignored": reason} for a ping, a tag, another branch, a branch deletion
// or another event; 401 for a missing or wrong signature or token (also
// when the app has no secret yet), with no side effect; 404 for an app that
// does not exist (app names are public, they are the apps' host names, so
// telling "no such app" from "bad signature" reveals nothing and helps
// whoever configures the hook); 413 past 5 MiB.
//
// There is no replay protection beyond the signature: GitHub signs no
// timestamp, and replaying a captured push merely deploys the same commit
// again.

// maxGitHookBody bounds an inbound git hook's body (GitHub caps payloads at
// 25 MB, but a push of a few commits is a few kB).
const maxGitHookBody = 5 << 20

const (
	gitHookSettingPrefix = "githook:"
	gitHookSecretPrefix  = "whgit_"
)

func gitHookSettingKey(appID string) string { return gitHookSettingPrefix + appID }
func gitHookContext(appID string) string    { return "app:" + appID + ":githook_secret" }

// gitHookSecretMu serialises the creation of git hook secrets, so that two
// first reads at once cannot hand out different secrets.
var gitHookSecretMu sync.Mutex

type gitHookJSON struct {
	URL         string `json:"url"`
	Secret      string `json:"secret"`
	ContentType string `json:"content_type"`
}

// getGitHook returns the app's hook URL and secret, creating the secret on
// first use.
func (a *API) getGitHook(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleMember)
	if err != nil {
		return err
	}
	secret, err := a.gitHookSecret(r.Context(), app.ID, true)
	if err != nil {
		return err
	}
	u := strings.TrimRight(a.PublicURL, "/") + "/v1/apps/" + url.PathEscape(app.Name) + "/hooks/git"
	writeJSON(w, http.StatusOK, gitHookJSON{URL: u, Secret: secret, ContentType: "application/json"})
	return nil
}

// gitHookSecret returns the app's git hook secret; "" if it has none and
// create is false.
func (a *API) gitHookSecret(ctx context.Context, appID string, create bool) (string, error) {
	read := func() (string, error) {
		v, err := a.Store.GetSetting(ctx, gitHookSettingKey(appID))
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		sealed, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return "", err
		}
		secret, err := a.Box.Open(sealed, gitHookContext(appID))
		if err != nil {
			return "", err
		}
		return string(secret), nil
	}
	secret, err := read()
	if err != nil || secret != "" || !create {
		return secret, err
	}
	gitHookSecretMu.Lock()
	defer gitHookSecretMu.Unlock()
	if secret, err := read(); err != nil || secret != "" {
		return secret, err
	}
	secret, _ = auth.NewToken(gitHookSecretPrefix)
	sealed := a.Box.Seal([]byte(secret), gitHookContext(appID))
	if err := a.Store.SetSetting(ctx, gitHookSettingKey(appID), base64.StdEncoding.EncodeToString(sealed)); err != nil {
		return "", err
	}
	return secret, nil
}

// pushEvent is what a GitHub or GitLab push payload says that matters here.
type pushEvent struct {
	Ref         string  `json:"ref"`
	After       string  `json:"after"`
	CheckoutSHA *string `json:"checkout_sha"` // GitLab; null when a branch is deleted
	Deleted     bool    `json:"deleted"`      // GitHub
}

// receiveGitHook is the public endpoint git hosts post to.
func (a *API) receiveGitHook(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	app, err := a.Store.GetAppByName(ctx, r.PathValue("app"))
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("no such app")
	}
	if err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxGitHookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{http.StatusRequestEntityTooLarge, "too_large", "request body too large"}
		}
		return errBadRequest("reading body: %v", err)
	}
	secret, err := a.gitHookSecret(ctx, app.ID, false)
	if err != nil {
		return err
	}

	var provider, event string
	switch sig, token := r.Header.Get("X-Hub-Signature-256"), r.Header.Get("X-Gitlab-Token"); {
	case sig != "":
		if secret == "" || !validGitHubSignature(secret, body, sig) {
			return errUnauthorized("X-Hub-Signature-256 does not match the body; check the hook's secret")
		}
		provider, event = "github", r.Header.Get("X-GitHub-Event")
	case token != "":
		if secret == "" || !equalSecrets(secret, token) {
			return errUnauthorized("X-Gitlab-Token is wrong; check the hook's secret")
		}
		provider, event = "gitlab", r.Header.Get("X-Gitlab-Event")
	default:
		return errUnauthorized("sign the request: X-Hub-Signature-256 (GitHub) or X-Gitlab-Token (GitLab)")
	}

	ignore := func(reason string) error {
		writeJSON(w, http.StatusOK, map[string]string{"ignored": reason})
		return nil
	}
	switch {
	case event == "":
		return errBadRequest("missing event header (X-GitHub-Event or X-Gitlab-Event)")
	case provider == "github" && event == "ping":
		return ignore("ping")
	case provider == "github" && event == "push", provider == "gitlab" && event == "Push Hook":
	case provider == "gitlab" && event == "Tag Push Hook":
		return ignore("tag")
	default:
		return ignore("event " + event + " is not handled")
	}

	var push pushEvent
	if err := decodePush(r, body, &push); err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(push.Ref, "refs/tags/"):
		return ignore("tag")
	case push.Ref != "refs/heads/"+app.Branch:
		return ignore("not the app's branch (" + app.Branch + ")")
	case push.Deleted || strings.Trim(push.After, "0") == "" && push.After != "":
		return ignore("branch deleted")
	}
	commit := push.After
	if provider == "gitlab" && push.CheckoutSHA != nil && *push.CheckoutSHA != "" {
		commit = *push.CheckoutSHA
	}
	if err := models.ValidateCommit(commit); err != nil {
		return errValidation("%v", err)
	}
	if app.Suspended {
		return errForbidden("this app is suspended")
	}
	d, err := a.Dispatch.CreateDeployment(ctx, app, store.TriggerGit, commit, "")
	if err != nil {
		return err
	}
	a.Logger.Info("git push deploys", "app", app.Name, "provider", provider, "commit", commit, "deployment_id", d.ID)
	writeJSON(w, http.StatusAccepted, map[string]string{"deployment_id": d.ID})
	return nil
}

// decodePush reads a push payload: JSON, or GitHub's form encoding with the
// JSON in "payload". Unknown fields are ignored (the payloads are large).
func decodePush(r *http.Request, body []byte, v *pushEvent) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil || !form.Has("payload") {
			return errBadRequest("form-encoded hook without a payload field")
		}
		body = []byte(form.Get("payload"))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errBadRequest("invalid push payload: %s", jsonErrText(err))
	}
	return nil
}

// validGitHubSignature checks "sha256=<hex HMAC-SHA256(secret, body)>" in
// constant time.
func validGitHubSignature(secret string, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	gotMAC, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(gotMAC, m.Sum(nil))
}

// equalSecrets compares in constant time, whatever the lengths.
func equalSecrets(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
