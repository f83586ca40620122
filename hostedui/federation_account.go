package hostedui

import (
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The account page's "Sign-in methods": the outside identities linked to
// the user, each with Unlink, and a Link button per provider not linked.
// Both are POSTs of the account form (CSRF, same origin) and need fresh
// proof, as adding a factor does (freshProof): the current password, or a
// passkey confirmation standing; a user who has no password of the pool
// (status EXTERNAL_PROVIDER: created by a federated sign-in) proves with a
// sign-in made moments ago instead (signedInUntil), so a session cookie
// that was copied later links nothing.
//
// Linking is a round trip to the provider (purpose link) bound to the
// user and the session that started it: the callback links the identity
// that comes back only if the browser is still that session.

// identityView is one linked identity as the account page lists it.
type identityView struct {
	Provider string
	Label    string
	Linked   string
	Primary  bool
}

// identitySection is what the account page shows of the sign-in methods.
type identitySection struct {
	Identities []identityView
	// Link are the providers the user may link.
	Link []providerButton
	// External: the user has no password here; Proved: their sign-in is
	// recent enough to change the methods without one; Reauth lists the
	// providers to sign in again with otherwise.
	External bool
	Proved   bool
	Reauth   []providerButton
	Error    string
}

// signedInUntil is until when the sign-in of r's session stands as proof
// for u (freshProof): zero unless u has no password here (status
// EXTERNAL_PROVIDER) and the session, u's, signed in within the reauth
// window.
func (h *Handler) signedInUntil(r *http.Request, u *store.User, now time.Time) time.Time {
	if u.Status != store.StatusExternalProvider {
		return time.Time{}
	}
	s, ok := h.session(r)
	if !ok || s.UserID != u.ID {
		return time.Time{}
	}
	if until := time.Unix(0, s.AuthTime).Add(h.reauthWindow()); now.Before(until) {
		return until
	}
	return time.Time{}
}

// identitySectionFor fills in the section for u; nil when the pool has no
// providers.
func (h *Handler) identitySectionFor(r *http.Request, u *store.User) (*identitySection, error) {
	if len(h.fedProviders) == 0 {
		return nil, nil
	}
	ids, err := h.pool.Identities(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	sec := &identitySection{External: u.Status == store.StatusExternalProvider}
	sec.Proved = sec.External && !h.signedInUntil(r, u, h.now()).IsZero()
	linked := map[string]bool{}
	for _, id := range ids {
		linked[id.Provider] = true
		v := identityView{Provider: id.Provider, Label: id.Provider, Linked: id.CreatedAt.UTC().Format(h.lang(r).T(layoutDate)), Primary: id.Primary}
		if p, ok := h.fedByName[id.Provider]; ok {
			v.Label = p.info.DisplayName
		}
		sec.Identities = append(sec.Identities, v)
	}
	for _, b := range h.buttons() {
		if linked[b.Name] {
			if sec.External && !sec.Proved {
				sec.Reauth = append(sec.Reauth, b)
			}
			continue
		}
		sec.Link = append(sec.Link, b)
	}
	return sec, nil
}

// accountIdentity links (a round trip to the provider) or unlinks one of
// u's outside identities, on fresh proof.
func (h *Handler) accountIdentity(w http.ResponseWriter, r *http.Request, u *store.User, action string, log *zap.Logger) {
	f := r.PostForm
	name := f.Get("provider")
	// Linking adds a way to sign in: the password or a passkey. Unlinking
	// takes any re-authentication.
	n := needAny
	if action == "idp_link" {
		n = needStrong
	}
	c, err := h.proof(r, u, f.Get("password"), n)
	if errors.Is(err, errReauthNeeded) {
		log.Info("sign-in method change refused: no fresh proof", zap.String("provider", clip(name)))
		h.toConfirm(w, r, u, n, "idp-heading")
		return
	}
	if err == nil {
		err = h.verifyTyped(r, u, c)
	}
	if err != nil {
		if h.refusedProof(w, r, u, err) {
			return
		}
		if errors.Is(err, pool.ErrInvalidCredentials) {
			h.renderAccount(w, r, http.StatusUnauthorized, u, accountPage{IdentityError: msgNotConfirmed(f.Get("password"))}, nil, nil)
			return
		}
		h.internalError(w, r, "checking the password", err)
		return
	}
	switch action {
	case "idp_link":
		p, ok := h.fedByName[name]
		if !ok {
			h.renderAccount(w, r, http.StatusNotFound, u, accountPage{IdentityError: "This site does not offer that provider."}, nil, nil)
			return
		}
		s, _ := h.session(r)
		target, ok := h.beginFlow(w, r, p, &fedFlow{Purpose: purposeLink, ReturnTo: AccountPath, UserID: u.ID, SessionID: s.ID})
		if !ok {
			return
		}
		h.continueTo(w, r, h.lang(r).T("Continue at {{.Provider}}", "Provider", p.info.DisplayName), target)
	case "idp_unlink":
		err := h.pool.UnlinkIdentity(r.Context(), u, name)
		switch {
		case err == nil:
		case errors.Is(err, pool.ErrLastSignInMethod):
			h.renderAccount(w, r, http.StatusConflict, u, accountPage{
				IdentityError: "This is your only way to sign in: link another provider or set up a passkey first."}, nil, nil)
			return
		case errors.Is(err, store.ErrNotFound), errors.Is(err, pool.ErrUserNotFound):
			h.renderAccount(w, r, http.StatusNotFound, u, accountPage{IdentityError: "That provider was unlinked already."}, nil, nil)
			return
		default:
			h.internalError(w, r, "unlinking an identity", err)
			return
		}
		log.Info("identity unlinked", zap.String("provider", name))
		seeOther(w, AccountPath+"?notice=idp_unlinked")
	}
}

// finishLink links the identity a link flow came back with to the user
// who started it, if this browser is still that user's session.
func (h *Handler) finishLink(w http.ResponseWriter, r *http.Request, p *fedProvider, f *fedFlow, id *federation.Identity) {
	s, ok := h.session(r)
	if !ok || s.UserID != f.UserID || s.ID != f.SessionID || f.UserID == "" {
		h.fedRefused(w, r, p.info.Name, "session_changed", f.UserID, http.StatusForbidden, "Sign in again",
			h.lang(r).T("You were signed out, or signed in as someone else, while linking {{.Provider}}. Sign in, then link it again from your account page.", "Provider", p.info.DisplayName))
		return
	}
	u, err := h.pool.User(r.Context(), f.UserID)
	if err != nil {
		if errors.Is(err, pool.ErrUserNotFound) {
			h.fedRefused(w, r, p.info.Name, "no_user", f.UserID, http.StatusNotFound, "No account here",
				"The account this link was for no longer exists.")
			return
		}
		h.internalError(w, r, "reading the user of a link", err)
		return
	}
	if err := h.pool.LinkIdentity(r.Context(), u, externalIdentity(id)); err != nil {
		if h.poolRefused(w, r, p.info, err) {
			return
		}
		h.internalError(w, r, "linking an identity", err)
		return
	}
	h.log.Info("identity linked", zap.String("user_id", u.ID), zap.String("provider", p.info.Name),
		zap.String("remote_ip", h.clientIP(r)))
	h.continueTo(w, r, "Linked", AccountPath+"?notice=idp_linked")
}
